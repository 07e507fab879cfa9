//! One file per `crm.v1` service, and what they share ([`common`]). The role each method needs
//! is stated here once, in [`ROLES`]; the [`crate::layer`] enforces it before a handler runs.

pub mod admin;
pub mod automation;
pub(crate) mod bulk;
pub(crate) mod common;
pub mod customers;
pub mod deals;
pub mod feed;
pub mod feedback;
pub mod lifecycle;
pub mod loyalty;
pub(crate) mod merge;
pub mod privacy;
pub mod reports;
pub mod segments;
pub mod support;
pub mod tasks;
pub mod timeline;

use crate::keys::Role;

/// Every method of crm's services with the role it needs (the README's role table).
pub const ROLES: &[(&str, &str, Role)] = &[
    ("CustomerService", "CreateCustomer", Role::Writer),
    ("CustomerService", "GetCustomer", Role::Reader),
    ("CustomerService", "UpdateCustomer", Role::Writer),
    ("CustomerService", "DeleteCustomer", Role::Writer),
    ("CustomerService", "ListCustomers", Role::Reader),
    ("CustomerService", "SearchCustomers", Role::Reader),
    ("CustomerService", "GetCustomerValue", Role::Reader),
    ("CustomerService", "LookupCustomer", Role::Reader),
    ("CustomerService", "BatchCreateCustomers", Role::Writer),
    ("CustomerService", "BatchUpsertCustomers", Role::Writer),
    ("CustomerService", "ImportCustomers", Role::Writer),
    ("CustomerService", "ExportCustomers", Role::Reader),
    ("CustomerService", "FindDuplicates", Role::Reader),
    ("CustomerService", "MergeCustomers", Role::Writer),
    ("CustomerService", "UnmergeCustomers", Role::Writer),
    ("TimelineService", "RecordInteraction", Role::Writer),
    ("TimelineService", "RecordPurchase", Role::Writer),
    ("TimelineService", "RecordRefund", Role::Writer),
    ("TimelineService", "ListTimeline", Role::Reader),
    ("LifecycleService", "ChangeLifecycleStage", Role::Writer),
    ("LifecycleService", "MarkLost", Role::Writer),
    ("LifecycleService", "QualifyLead", Role::Writer),
    ("LifecycleService", "GetScoringModel", Role::Reader),
    ("LifecycleService", "UpdateScoringModel", Role::Admin),
    ("SegmentService", "CreateSegment", Role::Writer),
    ("SegmentService", "GetSegment", Role::Reader),
    ("SegmentService", "ListSegments", Role::Reader),
    ("SegmentService", "UpdateSegment", Role::Writer),
    ("SegmentService", "DeleteSegment", Role::Writer),
    ("SegmentService", "CountSegmentMembers", Role::Reader),
    ("SegmentService", "ListSegmentMembers", Role::Reader),
    ("ReportService", "GetPortfolioReport", Role::Reader),
    ("AdminService", "ListAuditEvents", Role::Admin),
    ("AdminService", "VerifyStore", Role::Admin),
    ("AdminService", "CreateApiKey", Role::Admin),
    ("AdminService", "ListApiKeys", Role::Admin),
    ("AdminService", "RevokeApiKey", Role::Admin),
    ("AdminService", "Backup", Role::Admin),
    ("AdminService", "GetServerMetrics", Role::Admin),
    ("ChangeFeedService", "WatchChanges", Role::Reader),
    ("FeedbackService", "RecordSurveyResponse", Role::Writer),
    ("FeedbackService", "RecordReview", Role::Writer),
    ("FeedbackService", "GetFeedbackReport", Role::Reader),
    ("SupportService", "CreateTicket", Role::Writer),
    ("SupportService", "GetTicket", Role::Reader),
    ("SupportService", "ListTickets", Role::Reader),
    ("SupportService", "UpdateTicket", Role::Writer),
    ("SupportService", "DeleteTicket", Role::Writer),
    ("SupportService", "MoveTicket", Role::Writer),
    ("SupportService", "AddTicketMessage", Role::Writer),
    ("SupportService", "ListTicketMessages", Role::Reader),
    ("SupportService", "GetSlaPolicy", Role::Reader),
    ("SupportService", "UpdateSlaPolicy", Role::Admin),
    ("SupportService", "GetBusinessCalendar", Role::Reader),
    ("SupportService", "UpdateBusinessCalendar", Role::Admin),
    ("SupportService", "GetSupportReport", Role::Reader),
    ("LoyaltyService", "GetLoyaltyProgram", Role::Reader),
    ("LoyaltyService", "UpdateLoyaltyProgram", Role::Admin),
    ("LoyaltyService", "GetLoyaltyAccount", Role::Reader),
    ("LoyaltyService", "ListLoyaltyEntries", Role::Reader),
    ("LoyaltyService", "RedeemPoints", Role::Writer),
    ("LoyaltyService", "RedeemReward", Role::Writer),
    ("LoyaltyService", "AdjustPoints", Role::Writer),
    ("LoyaltyService", "CreateReward", Role::Writer),
    ("LoyaltyService", "GetReward", Role::Reader),
    ("LoyaltyService", "ListRewards", Role::Reader),
    ("LoyaltyService", "UpdateReward", Role::Writer),
    ("LoyaltyService", "DeleteReward", Role::Writer),
    ("LoyaltyService", "GetLoyaltyReport", Role::Reader),
    ("DealService", "CreatePipeline", Role::Admin),
    ("DealService", "GetPipeline", Role::Reader),
    ("DealService", "ListPipelines", Role::Reader),
    ("DealService", "UpdatePipeline", Role::Admin),
    ("DealService", "DeletePipeline", Role::Admin),
    ("DealService", "CreateDeal", Role::Writer),
    ("DealService", "GetDeal", Role::Reader),
    ("DealService", "ListDeals", Role::Reader),
    ("DealService", "UpdateDeal", Role::Writer),
    ("DealService", "DeleteDeal", Role::Writer),
    ("DealService", "MoveDeal", Role::Writer),
    ("DealService", "CloseDeal", Role::Writer),
    ("DealService", "ReopenDeal", Role::Writer),
    ("DealService", "GetForecast", Role::Reader),
    ("TaskService", "CreateTask", Role::Writer),
    ("TaskService", "GetTask", Role::Reader),
    ("TaskService", "ListTasks", Role::Reader),
    ("TaskService", "UpdateTask", Role::Writer),
    ("TaskService", "SetTaskStatus", Role::Writer),
    ("TaskService", "DeleteTask", Role::Writer),
    ("AutomationService", "CreateRule", Role::Admin),
    ("AutomationService", "GetRule", Role::Reader),
    ("AutomationService", "ListRules", Role::Reader),
    ("AutomationService", "UpdateRule", Role::Admin),
    ("AutomationService", "DeleteRule", Role::Admin),
    ("AutomationService", "ListRuleFirings", Role::Reader),
    ("AutomationService", "DryRunRule", Role::Reader),
    ("PrivacyService", "RecordConsent", Role::Writer),
    ("PrivacyService", "ExportCustomerData", Role::Admin),
    ("PrivacyService", "EraseCustomer", Role::Admin),
    ("PrivacyService", "GetRetentionPolicy", Role::Reader),
    ("PrivacyService", "UpdateRetentionPolicy", Role::Admin),
    ("PrivacyService", "PlanRetention", Role::Admin),
    ("PrivacyService", "ApplyRetention", Role::Admin),
];

/// The methods whose request is a stream of messages (client or bidirectional streaming).
pub const STREAMED_REQUESTS: &[(&str, &str)] = &[("CustomerService", "ImportCustomers")];

/// The package of crm's services.
const PACKAGE: &str = "crm.v1.";

/// The service (without its package) and method a gRPC path names, for crm's services only
/// (`/crm.v1.CustomerService/GetCustomer`).
pub fn method_of(path: &str) -> Option<(&str, &str)> {
    let (service, method) = path.strip_prefix('/')?.split_once('/')?;
    Some((service.strip_prefix(PACKAGE)?, method))
}

/// A method of crm's services, as a call's path names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Method {
    /// Its row in [`ROLES`], or `ROLES.len()` for a method the contract does not have.
    pub index: usize,
    /// Its name (`GetCustomer`), or `unknown` for a method the contract does not have: a
    /// client cannot mint metric labels or log fields by calling made-up methods.
    pub name: &'static str,
    /// The role it needs: admin for a method the contract does not have (a test checks
    /// [`ROLES`] against the contract, so none of crm's methods is missing from it).
    pub role: Role,
}

impl Method {
    /// The method `path` names (`/crm.v1.CustomerService/GetCustomer`), or `None` for a path
    /// outside crm's services (health, reflection).
    pub fn of(path: &str) -> Option<Method> {
        let (service, method) = method_of(path)?;
        let found = ROLES
            .iter()
            .position(|(s, m, _)| *s == service && *m == method);
        Some(match found {
            Some(index) => Method {
                index,
                name: ROLES[index].1,
                role: ROLES[index].2,
            },
            None => Method {
                index: ROLES.len(),
                name: "unknown",
                role: Role::Admin,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use prost::Message as _;

    use super::*;

    /// The (service, method) pairs of the crm.v1 contract whose method passes `keep`.
    fn contract_methods(
        keep: impl Fn(&prost_types::MethodDescriptorProto) -> bool,
    ) -> Vec<(String, String)> {
        let set = prost_types::FileDescriptorSet::decode(crate::pb::FILE_DESCRIPTOR_SET)
            .unwrap_or_default();
        set.file
            .iter()
            .filter(|f| f.package() == "crm.v1")
            .flat_map(|f| f.service.iter())
            .flat_map(|s| {
                s.method
                    .iter()
                    .filter(|m| keep(m))
                    .map(|m| (s.name().to_owned(), m.name().to_owned()))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// Every method of every crm.v1 service in the contract has a role, and every role names a
    /// method that exists.
    #[test]
    fn the_role_table_covers_the_contract_exactly() {
        let mut contract = contract_methods(|_| true);
        let mut table: Vec<(String, String)> = ROLES
            .iter()
            .map(|(s, m, _)| ((*s).to_owned(), (*m).to_owned()))
            .collect();
        contract.sort();
        table.sort();
        assert!(!contract.is_empty());
        assert_eq!(table, contract);
    }

    /// The admission layer reads a request whole unless its method streams requests: the list
    /// of those is the contract's.
    #[test]
    fn the_streamed_requests_are_the_contracts_client_streams() {
        let mut contract = contract_methods(|m| m.client_streaming());
        let mut listed: Vec<(String, String)> = STREAMED_REQUESTS
            .iter()
            .map(|(s, m)| ((*s).to_owned(), (*m).to_owned()))
            .collect();
        contract.sort();
        listed.sort();
        assert!(!contract.is_empty());
        assert_eq!(listed, contract);
    }

    #[test]
    fn paths_name_their_service_and_method() {
        assert_eq!(
            method_of("/crm.v1.CustomerService/GetCustomer"),
            Some(("CustomerService", "GetCustomer"))
        );
        assert_eq!(method_of("/grpc.health.v1.Health/Check"), None);
        assert_eq!(method_of("garbage"), None);
    }

    /// A call's path names a method of the contract with its role, a made-up method as
    /// `unknown` needing the admin role, and other services' paths not at all.
    #[test]
    fn a_path_names_its_method_or_unknown() {
        let get = Method::of("/crm.v1.CustomerService/GetCustomer");
        assert_eq!(
            get.map(|m| (m.name, m.role)),
            Some(("GetCustomer", Role::Reader))
        );
        let index = get.map_or(usize::MAX, |m| m.index);
        assert_eq!(ROLES.get(index).map(|r| r.1), Some("GetCustomer"));

        let made_up = Method::of("/crm.v1.CustomerService/DropEverything");
        assert_eq!(
            made_up,
            Some(Method {
                index: ROLES.len(),
                name: "unknown",
                role: Role::Admin
            })
        );
        assert_eq!(Method::of("/grpc.health.v1.Health/Check"), None);
        assert_eq!(Method::of("/"), None);
    }
}
