//! `crm.v1.TaskService`: tasks.

use crm_core::Violations;
use crm_core::tasks::TaskId;
use crm_store::Store;
use crm_store::tasks::TaskQuery;
use tonic::{Request, Response, Status};

use crate::convert::deals::hex_id;
use crate::convert::tasks::{
    list_link_from_proto, task_from_proto, task_status_from_proto, task_to_proto,
};
use crate::layer::Call;
use crate::pb;
use crate::pb::task_service_server::TaskService;
use crate::services::common::{audited, blocking, non_empty, page_size, time_in};
use crate::status::{Fields, invalid};

/// The task service over a store.
#[derive(Clone, Debug)]
pub struct TaskApi {
    store: Store,
}

impl TaskApi {
    /// Serves `store`.
    pub fn new(store: Store) -> Self {
        TaskApi { store }
    }

    fn as_caller<T>(&self, request: &Request<T>) -> Result<Store, Status> {
        let Call { caller, request_id } = Call::of(request)?;
        Ok(audited(&self.store, caller, request_id))
    }
}

fn id_of(field: &str, text: &str) -> Result<TaskId, Status> {
    hex_id(field, text).map_err(invalid)
}

#[tonic::async_trait]
impl TaskService for TaskApi {
    async fn create_task(
        &self,
        request: Request<pb::CreateTaskRequest>,
    ) -> Result<Response<pb::Task>, Status> {
        let store = self.as_caller(&request)?;
        let pb::CreateTaskRequest { task, request_id } = request.into_inner();
        let Some(task) = task else {
            return Err(invalid(Violations::one("task", "is required")));
        };
        let data = task_from_proto(task, None).map_err(|v| invalid(v.prefixed("task")))?;
        let rid = non_empty(request_id);
        let t = blocking(store.clone(), Fields::Request, move |s| {
            s.tasks().create_task(data, rid.as_deref())
        })
        .await?;
        Ok(Response::new(task_to_proto(&t, store.now())))
    }

    async fn get_task(
        &self,
        request: Request<pb::GetTaskRequest>,
    ) -> Result<Response<pb::Task>, Status> {
        let id = id_of("id", &request.into_inner().id)?;
        let t = blocking(self.store.clone(), Fields::Request, move |s| {
            s.tasks().get_task(id)
        })
        .await?;
        Ok(Response::new(task_to_proto(&t, self.store.now())))
    }

    async fn list_tasks(
        &self,
        request: Request<pb::ListTasksRequest>,
    ) -> Result<Response<pb::ListTasksResponse>, Status> {
        let pb::ListTasksRequest {
            owner,
            status,
            due_before,
            overdue_only,
            link,
            page_size: size,
            page_token,
        } = request.into_inner();
        let mut v = Violations::default();
        let due_before = time_in(&mut v, "due_before", due_before);
        let status = match status {
            0 => None,
            s => {
                let parsed = task_status_from_proto(s);
                if parsed.is_none() {
                    v.add("status", format!("{s} is not a task status"));
                }
                parsed
            }
        };
        let link = list_link_from_proto(link).unwrap_or_else(|e| {
            v.0.extend(e.0);
            None
        });
        v.into_result(()).map_err(invalid)?;
        let query = TaskQuery {
            owner: non_empty(owner),
            status,
            link,
            due_before,
            overdue: overdue_only,
            page_size: page_size(size)?,
            page_token,
        };
        let page = blocking(self.store.clone(), Fields::Request, move |s| {
            s.tasks().list_tasks(&query)
        })
        .await?;
        Ok(Response::new(pb::ListTasksResponse {
            tasks: page
                .tasks
                .iter()
                .map(|t| task_to_proto(t, page.as_of))
                .collect(),
            next_page_token: page.next_page_token,
        }))
    }

    async fn update_task(
        &self,
        request: Request<pb::UpdateTaskRequest>,
    ) -> Result<Response<pb::Task>, Status> {
        let store = self.as_caller(&request)?;
        let pb::UpdateTaskRequest {
            task,
            update_mask,
            etag,
        } = request.into_inner();
        let Some(task) = task else {
            return Err(invalid(Violations::one("task", "is required")));
        };
        let id = id_of("task.id", &task.id)?;
        let etag = non_empty(etag).or_else(|| non_empty(task.etag.clone()));
        let mask = update_mask.map(|m| m.paths).unwrap_or_default();
        let data = task_from_proto(task, Some(&mask)).map_err(|v| invalid(v.prefixed("task")))?;
        let t = blocking(store.clone(), Fields::Request, move |s| {
            s.tasks().update_task(id, data, &mask, etag.as_deref())
        })
        .await?;
        Ok(Response::new(task_to_proto(&t, store.now())))
    }

    async fn set_task_status(
        &self,
        request: Request<pb::SetTaskStatusRequest>,
    ) -> Result<Response<pb::Task>, Status> {
        let store = self.as_caller(&request)?;
        let pb::SetTaskStatusRequest { id, status, etag } = request.into_inner();
        let id = id_of("id", &id)?;
        let Some(status) = task_status_from_proto(status) else {
            return Err(invalid(Violations::one(
                "status",
                "is required: TASK_OPEN, TASK_DONE or TASK_CANCELLED",
            )));
        };
        let etag = non_empty(etag);
        let t = blocking(store.clone(), Fields::Request, move |s| {
            s.tasks().set_status(id, status, etag.as_deref())
        })
        .await?;
        Ok(Response::new(task_to_proto(&t, store.now())))
    }

    async fn delete_task(
        &self,
        request: Request<pb::DeleteTaskRequest>,
    ) -> Result<Response<pb::DeleteTaskResponse>, Status> {
        let store = self.as_caller(&request)?;
        let pb::DeleteTaskRequest { id, etag } = request.into_inner();
        let id = id_of("id", &id)?;
        let etag = non_empty(etag);
        blocking(store, Fields::Request, move |s| {
            s.tasks().delete_task(id, etag.as_deref())
        })
        .await?;
        Ok(Response::new(pb::DeleteTaskResponse {}))
    }
}
