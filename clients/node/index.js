'use strict';
// A Node.js client for crm (crm.v1). The services are loaded at run time from the contract in
// proto/ (the repository's, or $CRM_PROTO_DIR) with @grpc/proto-loader: nothing is generated
// or committed. `errorDetails` decodes the google.rpc details crm sends with a failed call.

const path = require('node:path');
const fs = require('node:fs');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const protobuf = require('protobufjs');

const PROTO_DIR = process.env.CRM_PROTO_DIR || path.resolve(__dirname, '..', '..', 'proto');
const V1 = path.join(PROTO_DIR, 'crm', 'v1');

const definition = protoLoader.loadSync(
  fs.readdirSync(V1).filter((f) => f.endsWith('.proto')).sort().map((f) => path.join('crm', 'v1', f)),
  // Field names as in the proto (snake_case), 64-bit integers as strings, enums by name.
  { includeDirs: [PROTO_DIR], keepCase: true, longs: String, enums: String, defaults: true, oneofs: true },
);
const v1 = grpc.loadPackageDefinition(definition).crm.v1;

const SERVICES = {
  customers: 'CustomerService', timeline: 'TimelineService', lifecycle: 'LifecycleService',
  segments: 'SegmentService', reports: 'ReportService', admin: 'AdminService',
  feed: 'ChangeFeedService', feedback: 'FeedbackService', support: 'SupportService',
  loyalty: 'LoyaltyService', deals: 'DealService', tasks: 'TaskService',
  automation: 'AutomationService', privacy: 'PrivacyService',
};

/**
 * Clients for every crm.v1 service at `addr` (`host:port`), sharing one channel. Every call
 * carries `authorization: Bearer apiKey` and `x-crm-origin: origin` when given. Unary methods
 * return promises (`await crm.customers.getCustomer({id})`); streams are grpc-js streams.
 */
function connect(addr, { apiKey, origin, credentials } = {}) {
  const creds = credentials || grpc.credentials.createInsecure();
  const headers = (metadata) => {
    if (apiKey) metadata.set('authorization', `Bearer ${apiKey}`);
    if (origin) metadata.set('x-crm-origin', origin);
  };
  const interceptor = (options, nextCall) => new grpc.InterceptingCall(nextCall(options), {
    start(metadata, listener, next) { headers(metadata); next(metadata, listener); },
  });
  const first = new v1.CustomerService(addr, creds, { interceptors: [interceptor] });
  const channel = first.getChannel();
  const crm = { channel, close: () => first.close() };
  for (const [name, service] of Object.entries(SERVICES)) {
    const client = name === 'customers' ? first
      : new v1[service](addr, creds, { channelOverride: channel, interceptors: [interceptor] });
    crm[name] = promisify(client, v1[service].service);
  }
  return crm;
}

function promisify(client, service) {
  const wrapped = { raw: client };
  for (const [name, method] of Object.entries(service)) {
    const camel = name[0].toLowerCase() + name.slice(1);
    if (method.requestStream || method.responseStream) {
      wrapped[camel] = (...args) => client[name](...args);
    } else {
      wrapped[camel] = (request, options = {}) => new Promise((resolve, reject) => {
        client[name](request, new grpc.Metadata(), options, (err, response) => (err ? reject(err) : resolve(response)));
      });
    }
  }
  return wrapped;
}

const details = protobuf.loadSync([
  path.join(PROTO_DIR, 'google', 'rpc', 'status.proto'),
  path.join(__dirname, 'proto', 'google', 'rpc', 'error_details.proto'),
]);
const Status = details.lookupType('google.rpc.Status');
const DETAIL_TYPES = {
  'type.googleapis.com/google.rpc.ErrorInfo': details.lookupType('google.rpc.ErrorInfo'),
  'type.googleapis.com/google.rpc.BadRequest': details.lookupType('google.rpc.BadRequest'),
  'type.googleapis.com/google.rpc.ResourceInfo': details.lookupType('google.rpc.ResourceInfo'),
};

/**
 * What a failed call said: `{code, codeName, message, reason, domain, metadata,
 * fieldViolations: {path: description}, resourceType, resourceName}`.
 */
function errorDetails(err) {
  const out = {
    code: err.code, codeName: grpc.status[err.code], message: err.details || '',
    reason: null, domain: null, metadata: {}, fieldViolations: {}, resourceType: null, resourceName: null,
  };
  const raw = err.metadata && err.metadata.get('grpc-status-details-bin')[0];
  if (!raw) return out;
  for (const any of Status.decode(raw).details) {
    // protobufjs's built-in Any keeps the proto's field name.
    const typeUrl = any.type_url || any.typeUrl || '';
    const type = DETAIL_TYPES[typeUrl];
    if (!type) continue;
    const d = type.toObject(type.decode(any.value), { defaults: true });
    if (typeUrl.endsWith('ErrorInfo')) {
      Object.assign(out, { reason: d.reason, domain: d.domain });
      Object.assign(out.metadata, d.metadata);
    } else if (typeUrl.endsWith('BadRequest')) {
      for (const v of d.fieldViolations) out.fieldViolations[v.field] = v.description;
    } else {
      Object.assign(out, { resourceType: d.resourceType, resourceName: d.resourceName });
    }
  }
  return out;
}

module.exports = { connect, errorDetails, grpc, v1 };
