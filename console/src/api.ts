// The console's one way to the server: crm.v1 over gRPC-Web on the page's own origin, with the
// caller's API key (kept in this tab's session storage) as `authorization: Bearer KEY`.
import { Code, ConnectError, createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import type { DescService } from "@bufbuild/protobuf";
import { BadRequestSchema, ErrorInfoSchema } from "./gen/google/rpc/error_details_pb";
import { AdminService } from "./gen/crm/v1/admin_service_pb";
import { CustomerService } from "./gen/crm/v1/customer_service_pb";
import { DealService } from "./gen/crm/v1/deal_service_pb";
import { LoyaltyService } from "./gen/crm/v1/loyalty_service_pb";
import { ReportService } from "./gen/crm/v1/report_service_pb";
import { SegmentService } from "./gen/crm/v1/segment_service_pb";
import { SupportService } from "./gen/crm/v1/support_service_pb";
import { TimelineService } from "./gen/crm/v1/timeline_service_pb";

const KEY = "crm.apiKey";

/** The API key this tab calls with, or "" for none (loopback with authentication off). */
export function apiKey(): string {
  return sessionStorage.getItem(KEY) ?? "";
}

export function setApiKey(key: string): void {
  if (key) sessionStorage.setItem(KEY, key);
  else sessionStorage.removeItem(KEY);
}

const withKey: Interceptor = (next) => async (req) => {
  const key = apiKey();
  if (key) req.header.set("authorization", `Bearer ${key}`);
  return next(req);
};

const transport = createGrpcWebTransport({
  baseUrl: location.origin,
  interceptors: [withKey],
});

function client<S extends DescService>(service: S): Client<S> {
  return createClient(service, transport);
}

export const api = {
  admin: client(AdminService),
  customers: client(CustomerService),
  deals: client(DealService),
  loyalty: client(LoyaltyService),
  reports: client(ReportService),
  segments: client(SegmentService),
  support: client(SupportService),
  timeline: client(TimelineService),
};

/** A failed call as the console shows it: what happened, and which fields were wrong. */
export interface Problem {
  code: Code;
  codeName: string;
  message: string;
  /** Field path (as the server names it, e.g. `customer.emails[0].address`) to description. */
  fields: { field: string; description: string }[];
  reason?: string;
}

export function problem(error: unknown): Problem {
  const e = ConnectError.from(error);
  const fields = e
    .findDetails(BadRequestSchema)
    .flatMap((b) => b.fieldViolations.map((v) => ({ field: v.field, description: v.description })));
  const reason = e.findDetails(ErrorInfoSchema)[0]?.reason;
  return { code: e.code, codeName: Code[e.code] ?? String(e.code), message: e.rawMessage, fields, reason };
}

/** What the user should read for a problem: plain words for the codes a user can act on. */
export function explain(p: Problem): string {
  switch (p.code) {
    case Code.Unauthenticated:
      return `The server did not accept the API key (${p.message}). Set a valid key with "API key" above.`;
    case Code.PermissionDenied:
      return `This API key's role may not do this (${p.message}).`;
    case Code.Aborted:
      return `Someone else changed this since you opened it (${p.message}). Reload to see their changes, then edit again.`;
    case Code.NotFound:
      return `Not found: ${p.message}`;
    default:
      return `${p.codeName}: ${p.message}`;
  }
}

export { Code };
