// Cloud failover plans, the operations that run them (and single replicas), and their sessions.
#include <set>
#include <tuple>

#include "api/api_service.h"
#include "api/json_mapping.h"
#include "domain/ids.h"
#include "domain/ip_address.h"
#include "domain/replica_states.h"
#include "engine/failover_runner.h"
#include "engine/reconcile.h"

namespace warmsite::api {

domain::Replica visibleReplica(ApiRequest& request, store::Transaction& tx, const std::string& id);
void requireTransition(const domain::Replica& replica, domain::ReplicaOperation operation);

namespace {

constexpr std::uint32_t kMaxMembers = 10'000, kMaxParallelism = 1000, kMaxBootDelay = 3600,
                        kMaxTestDuration = 24 * 3600;

domain::FailoverPlan visiblePlan(ApiRequest& request, store::Transaction& tx,
                                 const std::string& id) {
  auto plan = request.who().isProvider() ? tx.findAnyFailoverPlan(id)
                                         : tx.tenant(request.who().tenantId)->findFailoverPlan(id);
  if (!plan) throw notFound("failover plan", id);
  return *plan;
}

// Reads name, description, parallelism and members; checks them against the tenant's replicas and
// public IPs, and the rules against each other and the tenant's other plans.
void readPlan(JsonInput& body, domain::FailoverPlan& plan, store::TenantScope& scope) {
  plan.name = body.string("name", 256);
  plan.description = body.optionalString("description", 1024).value_or("");
  plan.parallelism = static_cast<std::uint32_t>(
      body.optionalUnsigned("parallelism", 1, kMaxParallelism).value_or(10));
  plan.members.clear();
  std::set<std::string> replicas;
  std::set<std::tuple<std::string, std::uint16_t, std::string>> endpoints;
  std::set<std::string> ownIps;
  for (const auto& ip : scope.publicIps()) ownIps.insert(ip.address);
  for (auto& item : body.objectArray("members", kMaxMembers)) {
    domain::PlanMember member;
    member.replicaId = item.string("replica_id", 128);
    member.bootDelaySeconds = static_cast<std::uint32_t>(
        item.optionalUnsigned("boot_delay_s", 0, kMaxBootDelay).value_or(60));
    if (!replicas.insert(member.replicaId).second) {
      throw badRequest("replica " + member.replicaId + " is in the plan twice",
                       {{"field", "members"}});
    }
    if (!scope.findReplica(member.replicaId)) {
      throw badRequest("replica " + member.replicaId + " does not exist", {{"field", "members"}});
    }
    if (item.has("public_ip_rules")) {
      for (auto& ruleInput : item.objectArray("public_ip_rules", 256)) {
        domain::PublicIpRule rule;
        rule.id = domain::newId("rule");
        rule.publicIp = ruleInput.string("public_ip", 64);
        rule.publicPort =
            static_cast<std::uint16_t>(ruleInput.unsignedInt("public_port", 1, 65535));
        rule.protocol = ruleInput.optionalString("protocol", 8).value_or("tcp");
        rule.targetIp = ruleInput.string("target_ip", 64);
        rule.targetPort =
            static_cast<std::uint16_t>(ruleInput.unsignedInt("target_port", 1, 65535));
        rule.description = ruleInput.optionalString("description", 256).value_or("");
        ruleInput.finish();
        const auto where = rule.publicIp + ":" + std::to_string(rule.publicPort);
        if (rule.protocol != "tcp" && rule.protocol != "udp") {
          throw badRequest("rule " + where + ": protocol must be \"tcp\" or \"udp\"",
                           {{"field", "protocol"}});
        }
        if (rule.publicPort == 22) {
          throw badRequest("rule " + where + ": port 22 is reserved for the edge's management",
                           {{"field", "public_port"}});
        }
        auto publicIp = domain::parseIpAddress(rule.publicIp);
        auto targetIp = domain::parseIpAddress(rule.targetIp);
        if (std::holds_alternative<domain::ParseError>(publicIp) ||
            std::holds_alternative<domain::ParseError>(targetIp) ||
            std::get<domain::IpAddress>(publicIp).family !=
                std::get<domain::IpAddress>(targetIp).family) {
          throw badRequest(
              "rule " + where + " -> " + rule.targetIp + ": two addresses of one family are needed",
              {{"field", "public_ip_rules"}});
        }
        rule.publicIp = std::get<domain::IpAddress>(publicIp).toString();
        rule.targetIp = std::get<domain::IpAddress>(targetIp).toString();
        if (!ownIps.contains(rule.publicIp)) {
          throw ApiError(409, "conflict",
                         "public IP " + rule.publicIp + " is not allocated to this tenant",
                         {{"field", "public_ip"}});
        }
        if (!endpoints.emplace(rule.publicIp, rule.publicPort, rule.protocol).second) {
          throw conflict("public " + rule.protocol + " " + where + " is mapped twice in this plan");
        }
        member.publicIpRules.push_back(std::move(rule));
      }
    }
    item.finish();
    plan.members.push_back(std::move(member));
  }
  body.finish();
  require(domain::checkAccountName(plan.name), "name");
  for (const auto& other : scope.failoverPlans()) {
    if (other.id == plan.id) continue;
    for (const auto& member : other.members) {
      for (const auto& rule : member.publicIpRules) {
        if (endpoints.contains({rule.publicIp, rule.publicPort, rule.protocol})) {
          throw conflict("public " + rule.protocol + " " + rule.publicIp + ":" +
                         std::to_string(rule.publicPort) + " is already mapped by plan " +
                         other.name);
        }
      }
    }
  }
}

struct Start {
  domain::SessionKind kind;
  domain::ReplicaOperation operation;
  bool newWork;  // refused in maintenance (undo, permanent failover and failback are not)
};

// The tenant's replicas by id, in one query where a large plan would take one per member. Only a
// test failover's bubble needs their devices (it mirrors their networks): the others skip decoding
// every device list.
std::map<std::string, domain::Replica> replicasById(store::TenantScope& scope, bool withDevices) {
  std::map<std::string, domain::Replica> byId;
  for (auto& replica : withDevices ? scope.replicas() : scope.replicasWithoutDevices()) {
    const auto id = replica.id;
    byId.emplace(id, std::move(replica));
  }
  return byId;
}

// Creates the session for `members` (in this order), its task and the request's audit entry, in
// the caller's transaction (one of admission.write).
domain::FailoverSession startSession(ApiRequest& request, store::Transaction& tx,
                                     engine::TaskAdmission& admission, const std::string& tenantId,
                                     const Start& start, std::optional<domain::FailoverPlan> plan,
                                     const std::vector<domain::Replica>& members,
                                     std::optional<std::int64_t> before,
                                     std::uint32_t testDuration) {
  auto tenant = tx.findTenant(tenantId).value();
  requireTenantMayWork(tx, tenant, start.newWork && !request.who().isProvider());
  auto scope = tx.tenant(tenantId);
  std::set<std::string> busy;
  for (const auto& session : scope->sessionsInProgress()) {
    if (plan && session.planId == plan->id) {
      throw conflict("failover plan " + plan->name + " already runs session " + session.id + " (" +
                     std::string(domain::toString(session.kind)) + "); one operation at a time");
    }
    for (const auto& vm : session.vms) busy.insert(vm.replicaId);
  }
  if (members.empty())
    throw conflict("no replica of the plan is in a state this operation applies to");
  domain::FailoverSession session;
  session.id = domain::newId("fos");
  session.tenantId = tenantId;
  session.planId = plan ? plan->id : "";
  session.kind = start.kind;
  session.restorePointBeforeUnix = before;
  session.testDurationSeconds = testDuration;
  session.startedBy = request.who().name;
  session.startedUnix = security::nowUnix();
  std::uint32_t position = 0;
  std::optional<std::map<std::string, std::string>> lastFailoverPoints;  // read for undo only
  // Read for failovers only: one query for a plan's members, not one each.
  std::optional<std::map<std::string, std::string>> points;
  for (const auto& replica : members) {
    const auto& id = replica.id;
    requireTransition(replica, start.operation);
    if (busy.contains(id))
      throw conflict("replica " + replica.name + " is in another running session");
    domain::SessionVm vm;
    vm.replicaId = id;
    vm.position = position++;
    if (start.operation == domain::ReplicaOperation::kFailover ||
        start.operation == domain::ReplicaOperation::kTestFailover) {
      if (!points) {
        points = scope->newestRestorePoints(
            members.size() == 1 ? std::optional<std::string>(id) : std::nullopt, before);
      }
      const auto point = points->find(id);
      if (point == points->end()) {
        throw conflict("replica " + replica.name + " has no restore point" +
                       (before ? " before " + std::to_string(*before) : std::string()));
      }
      vm.restorePointId = point->second;
    } else if (start.operation == domain::ReplicaOperation::kUndoFailover) {
      if (!lastFailoverPoints) {
        std::vector<std::string> ids;
        for (const auto& member : members) ids.push_back(member.id);
        lastFailoverPoints = scope->pointsOfLastFailovers(ids);
      }
      if (auto point = lastFailoverPoints->find(id); point != lastFailoverPoints->end())
        vm.restorePointId = point->second;
    }
    session.vms.push_back(std::move(vm));
  }
  const auto task =
      queueTask(tx, request, admission, engine::kFailoverSession, session.id, tenantId);
  session.taskId = task.id;
  const bool startsAtOnce = task.state == domain::TaskState::kRunning;
  if (startsAtOnce) engine::journalFirstWave(session, plan);
  scope->insertSession(session);
  if (plan) {
    plan->state = start.kind == domain::SessionKind::kUndo
                      ? domain::FailoverPlanState::kUndoInProgress
                      : domain::FailoverPlanState::kInProgress;
    plan->lastSessionId = session.id;
    scope->setFailoverPlanState(plan->id, plan->state, session.id);
  }
  request.auditIn(tx, 202, tenantId);  // who started it commits with the session
  if (startsAtOnce) admission.handOver(task.id, engine::SessionStart{session, plan, members});
  return session;
}

// A test failover needs an isolated network on every cloud host its replicas live on; refused
// before anything starts where a plugin does not offer one.
void requireTestIsolation(const ApiContext& context, store::TenantScope& scope,
                          const std::vector<domain::Replica>& members) {
  std::map<std::string, std::string> hostOf;
  for (const auto& subscription : scope.subscriptions())
    hostOf[subscription.id] = subscription.cloudHostId;
  for (const auto& replica : members) {
    const auto host = hostOf[replica.subscriptionId];
    auto plugin = context.cloudHosts.find(host);
    if (plugin && plugin->testIsolation() == nullptr) {
      throw conflict("cloud host " + host + " offers no test isolation (its plugin has none), so " +
                     "replica " + replica.name + " cannot be test-failed-over there");
    }
  }
}

// Built after the commit: the JSON need not hold the write lock.
ApiResponse acceptedSession(const domain::FailoverSession& session) {
  ApiResponse response{202, {{"session", toSummaryJson(session)}}, session.tenantId};
  response.body["task_id"] = session.taskId;
  response.headers.emplace_back("Location", "/api/v1/sessions/" + session.id);
  return response;
}

std::optional<std::int64_t> readBefore(JsonInput& body) {
  if (!body.has("restore_point")) return std::nullopt;
  const auto choice = body.string("restore_point", 32);
  if (choice == "latest") return std::nullopt;
  throw badRequest(
      "field \"restore_point\" must be \"latest\"; give \"before\" (Unix seconds) for a point in "
      "time",
      {{"field", "restore_point"}});
}

}  // namespace

void addFailoverRoutes(Router& router, ApiContext& context) {
  router.add("GET", "/api/v1/failover-plans", Access::kTenantOrProvider,
             [&context](ApiRequest& request) {
               return context.store.read([&](store::Transaction& tx) {
                 return ApiResponse{
                     200, toJsonArray(request.who().isProvider()
                                          ? tx.listFailoverPlans()
                                          : tx.tenant(request.who().tenantId)->failoverPlans())};
               });
             });

  router.add(
      "POST", "/api/v1/failover-plans", Access::kTenantOrProvider, [&context](ApiRequest& request) {
        auto body = request.body();
        const auto tenantId =
            request.who().isProvider() ? body.string("tenant_id", 128) : request.who().tenantId;
        return context.store.write([&](store::Transaction& tx) {
          if (!tx.findTenant(tenantId))
            throw badRequest("tenant " + tenantId + " does not exist", {{"field", "tenant_id"}});
          auto scope = tx.tenant(tenantId);
          domain::FailoverPlan plan;
          plan.id = domain::newId("fp");
          plan.tenantId = tenantId;
          plan.createdUnix = security::nowUnix();
          readPlan(body, plan, *scope);
          scope->insertFailoverPlan(plan);
          ApiResponse response{201, toJson(plan), tenantId};
          response.headers.emplace_back("Location", "/api/v1/failover-plans/" + plan.id);
          return response;
        });
      });

  router.add("GET", "/api/v1/failover-plans/{id}", Access::kTenantOrProvider,
             [&context](ApiRequest& request) {
               return context.store.read([&](store::Transaction& tx) {
                 return ApiResponse{200, toJson(visiblePlan(request, tx, request.param("id")))};
               });
             });

  router.add("PUT", "/api/v1/failover-plans/{id}", Access::kTenantOrProvider,
             [&context](ApiRequest& request) {
               auto body = request.body();
               return context.store.write([&](store::Transaction& tx) {
                 auto plan = visiblePlan(request, tx, request.param("id"));
                 if (plan.state == domain::FailoverPlanState::kInProgress ||
                     plan.state == domain::FailoverPlanState::kUndoInProgress) {
                   throw conflict("failover plan " + plan.name + " is " +
                                  std::string(domain::toString(plan.state)) +
                                  "; edit it when the session ends");
                 }
                 auto scope = tx.tenant(plan.tenantId);
                 if (request.who().isProvider() && body.has("tenant_id"))
                   body.string("tenant_id", 128);  // cannot move
                 readPlan(body, plan, *scope);
                 scope->updateFailoverPlan(plan);
                 return ApiResponse(200, toJson(plan), plan.tenantId);
               });
             });

  router.add("DELETE", "/api/v1/failover-plans/{id}", Access::kTenantOrProvider,
             [&context](ApiRequest& request) {
               return context.store.write([&](store::Transaction& tx) {
                 auto plan = visiblePlan(request, tx, request.param("id"));
                 if (plan.state != domain::FailoverPlanState::kReady) {
                   throw conflict("failover plan " + plan.name + " is " +
                                  std::string(domain::toString(plan.state)) +
                                  "; undo it before deleting it");
                 }
                 tx.tenant(plan.tenantId)->deleteFailoverPlan(plan.id);
                 return ApiResponse(204, nlohmann::json::object(), plan.tenantId);
               });
             });

  router.add(
      "PUT", "/api/v1/failover-plans/{id}/scripts", Access::kProvider,
      [&context](ApiRequest& request) {
        auto body = request.body();
        domain::PlanScript pre, post;
        for (auto [key, script] : {std::pair<const char*, domain::PlanScript*>{"pre_script", &pre},
                                   {"post_script", &post}}) {
          if (auto command = body.optionalString(std::string(key) + "_command", 1024))
            script->command = *command;
          if (auto timeout = body.optionalUnsigned(std::string(key) + "_timeout_s", 1, 24 * 3600)) {
            script->timeoutSeconds = static_cast<std::uint32_t>(*timeout);
          }
          if (!script->command.empty() && script->command.front() != '/') {
            throw badRequest(std::string(key) + "_command must be an absolute path",
                             {{"field", std::string(key) + "_command"}});
          }
        }
        body.finish();
        return context.store.write([&](store::Transaction& tx) {
          auto plan = visiblePlan(request, tx, request.param("id"));
          plan.preScript = pre;
          plan.postScript = post;
          tx.tenant(plan.tenantId)->updateFailoverPlan(plan);
          return ApiResponse(200, toJson(plan), plan.tenantId);
        });
      });

  // ---- plan operations
  auto planOperation = [&context](const std::string& path, Start start,
                                  std::initializer_list<domain::ReplicaState> memberStates,
                                  std::initializer_list<domain::FailoverPlanState> planStates,
                                  Router& r) {
    r.add("POST", "/api/v1/failover-plans/{id}/" + path, Access::kTenantOrProvider,
          [&context, start, states = std::vector<domain::ReplicaState>(memberStates),
           allowed = std::vector<domain::FailoverPlanState>(planStates)](ApiRequest& request) {
            auto body = request.http.body.empty() ? JsonInput(nlohmann::json::object(), "")
                                                  : request.body();
            auto before = readBefore(body);
            if (auto at = body.optionalUnsigned("before", 0, 253'402'300'799))
              before = static_cast<std::int64_t>(*at);
            const auto duration = static_cast<std::uint32_t>(
                body.optionalUnsigned("duration_s", 0, kMaxTestDuration).value_or(0));
            body.finish();
            engine::TaskAdmission admission(context.engine);
            const auto session = admission.write([&](store::Transaction& tx) {
              auto plan = visiblePlan(request, tx, request.param("id"));
              if (std::find(allowed.begin(), allowed.end(), plan.state) == allowed.end()) {
                throw ApiError(
                    409, "invalid_state",
                    "failover plan " + plan.name + " is " +
                        std::string(domain::toString(plan.state)) + "; this operation needs it " +
                        [&] {
                          std::string text;
                          for (auto s : allowed)
                            text += (text.empty() ? "" : " or ") + std::string(domain::toString(s));
                          return text;
                        }(),
                    {{"state", domain::toString(plan.state)}});
              }
              auto scope = tx.tenant(plan.tenantId);
              const auto replicas =
                  replicasById(*scope, start.kind == domain::SessionKind::kTestFailover);
              std::vector<domain::Replica> members;
              for (const auto& member : plan.members) {
                const auto replica = replicas.find(member.replicaId);
                if (replica != replicas.end() && std::find(states.begin(), states.end(),
                                                           replica->second.state) != states.end()) {
                  members.push_back(replica->second);
                }
              }
              if (start.kind == domain::SessionKind::kTestFailover)
                requireTestIsolation(context, *scope, members);
              return startSession(request, tx, admission, plan.tenantId, start, plan, members,
                                  before, duration);
            });
            return acceptedSession(session);
          });
  };
  using P = domain::FailoverPlanState;
  using R = domain::ReplicaState;
  planOperation("failover",
                {domain::SessionKind::kFailover, domain::ReplicaOperation::kFailover, true},
                {R::kReady, R::kFailoverFailed}, {P::kReady, P::kFailed}, router);
  planOperation("test-failover",
                {domain::SessionKind::kTestFailover, domain::ReplicaOperation::kTestFailover, true},
                {R::kReady}, {P::kReady}, router);
  planOperation(
      "undo", {domain::SessionKind::kUndo, domain::ReplicaOperation::kUndoFailover, false},
      {R::kFailover, R::kFailoverFailed}, {P::kCompleted, P::kFailed, P::kUndoFailed}, router);
  planOperation("permanent-failover",
                {domain::SessionKind::kPermanentFailover,
                 domain::ReplicaOperation::kPermanentFailover, false},
                {R::kFailover}, {P::kCompleted, P::kFailed}, router);

  // ---- single-replica operations
  auto replicaOperation = [&context](const std::string& path, Start start, Router& r) {
    r.add("POST", "/api/v1/replicas/{id}/" + path, Access::kTenantOrProvider,
          [&context, start](ApiRequest& request) {
            auto body = request.http.body.empty() ? JsonInput(nlohmann::json::object(), "")
                                                  : request.body();
            auto before = readBefore(body);
            if (auto at = body.optionalUnsigned("before", 0, 253'402'300'799))
              before = static_cast<std::int64_t>(*at);
            body.finish();
            engine::TaskAdmission admission(context.engine);
            const auto session = admission.write([&](store::Transaction& tx) {
              auto replica = visibleReplica(request, tx, request.param("id"));
              return startSession(request, tx, admission, replica.tenantId, start, std::nullopt,
                                  {replica}, before, 0);
            });
            return acceptedSession(session);
          });
  };
  replicaOperation(
      "failover",
      {domain::SessionKind::kPartialFailover, domain::ReplicaOperation::kFailover, true}, router);
  replicaOperation(
      "undo-failover",
      {domain::SessionKind::kPartialUndo, domain::ReplicaOperation::kUndoFailover, false}, router);
  replicaOperation(
      "permanent-failover",
      {domain::SessionKind::kPartialPermanent, domain::ReplicaOperation::kPermanentFailover, false},
      router);
  replicaOperation("failback",
                   {domain::SessionKind::kFailback, domain::ReplicaOperation::kFailback, false},
                   router);
  replicaOperation(
      "failback/commit",
      {domain::SessionKind::kFailbackCommit, domain::ReplicaOperation::kFailbackCommit, false},
      router);
  replicaOperation(
      "failback/undo",
      {domain::SessionKind::kFailbackUndo, domain::ReplicaOperation::kFailbackUndo, false}, router);

  // ---- sessions
  router.add("GET", "/api/v1/sessions", Access::kTenantOrProvider, [&context](ApiRequest& request) {
    const auto planId = request.query("plan_id").value_or("");
    return context.store.read([&](store::Transaction& tx) {
      if (!request.who().isProvider()) {
        return ApiResponse{200,
                           toJsonArray(tx.tenant(request.who().tenantId)->sessions(planId, 100))};
      }
      if (auto tenantId = request.query("tenant_id")) {
        return ApiResponse{200, toJsonArray(tx.tenant(*tenantId)->sessions(planId, 100))};
      }
      return ApiResponse{200, toJsonArray(tx.listSessions(100))};
    });
  });

  router.add(
      "GET", "/api/v1/sessions/{id}", Access::kTenantOrProvider, [&context](ApiRequest& request) {
        return context.store.read([&](store::Transaction& tx) {
          auto session = request.who().isProvider()
                             ? tx.findAnySession(request.param("id"))
                             : tx.tenant(request.who().tenantId)->findSession(request.param("id"));
          if (!session) throw notFound("session", request.param("id"));
          return ApiResponse{200, toJson(*session)};
        });
      });

  router.add("POST", "/api/v1/sessions/{id}/cancel", Access::kTenantOrProvider,
             [&context](ApiRequest& request) {
               const auto session = context.store.read([&](store::Transaction& tx) {
                 auto found =
                     request.who().isProvider()
                         ? tx.findAnySession(request.param("id"))
                         : tx.tenant(request.who().tenantId)->findSession(request.param("id"));
                 if (!found) throw notFound("session", request.param("id"));
                 return *found;
               });
               if (session.state != domain::SessionState::kInProgress) {
                 throw conflict("session " + session.id + " is " +
                                std::string(domain::toString(session.state)) +
                                "; only a running session can be cancelled");
               }
               context.engine.cancel(session.taskId);
               return ApiResponse(202, {{"session_id", session.id}, {"task_id", session.taskId}},
                                  session.tenantId);
             });

  // ---- reconcile
  router.add("GET", "/api/v1/reconcile", Access::kProvider, [&context](ApiRequest&) {
    const auto report =
        context.store.read([](store::Transaction& tx) { return tx.setting("reconcile_report"); });
    return ApiResponse{200,
                       report.empty() ? nlohmann::json::object() : nlohmann::json::parse(report)};
  });

  router.add("POST", "/api/v1/reconcile", Access::kProvider, [&context](ApiRequest&) {
    const auto report = engine::toJson(engine::reconcile(context.store, context.cloudHosts));
    context.store.write(
        [&](store::Transaction& tx) { tx.setSetting("reconcile_report", report.dump()); });
    return ApiResponse{200, report};
  });
}

}  // namespace warmsite::api
