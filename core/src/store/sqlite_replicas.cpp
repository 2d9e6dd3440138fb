// Replicas, restore points, failover plans and their sessions.
#include <nlohmann/json.hpp>

#include <set>

#include "store/sqlite_transaction.h"

namespace warmsite::domain {
// How the device lists and plan members are kept in their JSON columns.
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(ReplicaDisk, diskId, storage, sizeGb)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(ReplicaNic, nicId, networkId, mac, ipAddress)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(PublicIpRule, id, publicIp, publicPort, protocol, targetIp,
                                   targetPort, description)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(PlanMember, replicaId, bootDelaySeconds, publicIpRules)
}  // namespace warmsite::domain

namespace warmsite::store::sqlite {

using Kind = StoreError::Kind;

namespace {

constexpr const char* kReplicaColumns =
    "id, tenant_id, subscription_id, name, vcpus, cpu_mhz, memory_mb, devices_json, state, error, "
    "deleting, "
    "created_unix";

// The same columns in the same places, the device list left out.
constexpr const char* kReplicaColumnsWithoutDevices =
    "id, tenant_id, subscription_id, name, vcpus, cpu_mhz, memory_mb, NULL, state, error, "
    "deleting, created_unix";

std::string devicesJson(const domain::Replica& replica) {
  return nlohmann::json{{"disks", replica.disks}, {"nics", replica.nics}}.dump();
}

constexpr const char* kPlanColumns =
    "id, tenant_id, name, description, parallelism, members_json, pre_script, pre_timeout_s, "
    "post_script, "
    "post_timeout_s, state, last_session_id, created_unix";

constexpr const char* kSessionColumns =
    "id, tenant_id, plan_id, task_id, kind, state, restore_point_before_unix, test_duration_s, "
    "error, "
    "script_output, started_by, started_unix, finished_unix";

void expectOneRow(int changed, const std::string& what) {
  if (changed == 0) throw StoreError(Kind::kNotFound, what + " not found");
}

// A session VM's journalled columns (state, step, attempts, restore_point_id, error, started_unix,
// finished_unix, in this order) from parameter `first` on.
void bindJournalledState(SQLite::Statement& statement, int first, const domain::SessionVm& vm) {
  statement.bind(first, std::string(domain::toString(vm.state)));
  statement.bind(first + 1, vm.step);
  statement.bind(first + 2, static_cast<std::int64_t>(vm.attempts));
  statement.bind(first + 3, vm.restorePointId);
  statement.bind(first + 4, vm.error);
  bindOptional(statement, first + 5, vm.startedUnix);
  bindOptional(statement, first + 6, vm.finishedUnix);
}

}  // namespace

// ---- shared selects
// ------------------------------------------------------------------------------

std::vector<domain::Replica> selectReplicas(SQLite::Database& db, const std::string& where,
                                            const std::vector<std::string>& values,
                                            std::uint32_t limit, bool withDevices) {
  CachedStatement query(
      db, std::string("SELECT ") + (withDevices ? kReplicaColumns : kReplicaColumnsWithoutDevices) +
              " FROM replicas " + where + " ORDER BY name, id LIMIT " + std::to_string(limit));
  bindAll(query, values);
  std::vector<domain::Replica> result;
  while (query.executeStep()) {
    domain::Replica replica;
    replica.id = query.getColumn(0).getString();
    replica.tenantId = query.getColumn(1).getString();
    replica.subscriptionId = query.getColumn(2).getString();
    replica.name = query.getColumn(3).getString();
    replica.vcpus = static_cast<std::uint32_t>(query.getColumn(4).getInt());
    replica.cpuMhz = static_cast<std::uint64_t>(query.getColumn(5).getInt64());
    replica.memoryMb = static_cast<std::uint64_t>(query.getColumn(6).getInt64());
    if (withDevices) {
      const auto devices = nlohmann::json::parse(query.getColumn(7).getString());
      replica.disks = devices.at("disks").get<std::vector<domain::ReplicaDisk>>();
      replica.nics = devices.at("nics").get<std::vector<domain::ReplicaNic>>();
    }
    replica.state = domain::replicaStateFrom(query.getColumn(8).getString())
                        .value_or(domain::ReplicaState::kReady);
    replica.error = query.getColumn(9).getString();
    replica.deleting = query.getColumn(10).getInt() != 0;
    replica.createdUnix = query.getColumn(11).getInt64();
    result.push_back(std::move(replica));
  }
  return result;
}

std::vector<domain::FailoverPlan> selectFailoverPlans(SQLite::Database& db,
                                                      const std::string& where,
                                                      const std::vector<std::string>& values) {
  CachedStatement query(db, std::string("SELECT ") + kPlanColumns + " FROM failover_plans " +
                                where + " ORDER BY name");
  bindAll(query, values);
  std::vector<domain::FailoverPlan> result;
  while (query.executeStep()) {
    domain::FailoverPlan plan;
    plan.id = query.getColumn(0).getString();
    plan.tenantId = query.getColumn(1).getString();
    plan.name = query.getColumn(2).getString();
    plan.description = query.getColumn(3).getString();
    plan.parallelism = static_cast<std::uint32_t>(query.getColumn(4).getInt());
    const auto members = query.getColumn(5).getString();
    plan.members = static_cast<Connection&>(db).parsed<std::vector<domain::PlanMember>>(
        "failover_plans.members_json " + plan.id, members,
        [&] { return nlohmann::json::parse(members).get<std::vector<domain::PlanMember>>(); });
    plan.preScript = {query.getColumn(6).getString(),
                      static_cast<std::uint32_t>(query.getColumn(7).getInt())};
    plan.postScript = {query.getColumn(8).getString(),
                       static_cast<std::uint32_t>(query.getColumn(9).getInt())};
    plan.state = domain::failoverPlanStateFrom(query.getColumn(10).getString())
                     .value_or(domain::FailoverPlanState::kReady);
    plan.lastSessionId = query.getColumn(11).getString();
    plan.createdUnix = query.getColumn(12).getInt64();
    result.push_back(std::move(plan));
  }
  return result;
}

std::vector<domain::FailoverSession> selectSessions(SQLite::Database& db, const std::string& where,
                                                    const std::vector<std::string>& values,
                                                    std::uint32_t limit) {
  CachedStatement query(db, std::string("SELECT ") + kSessionColumns + " FROM failover_sessions " +
                                where + " ORDER BY started_unix DESC, rowid DESC LIMIT " +
                                std::to_string(limit));
  bindAll(query, values);
  std::vector<domain::FailoverSession> result;
  while (query.executeStep()) {
    domain::FailoverSession session;
    session.id = query.getColumn(0).getString();
    session.tenantId = query.getColumn(1).getString();
    session.planId = query.getColumn(2).getString();
    session.taskId = query.getColumn(3).getString();
    session.kind = domain::sessionKindFrom(query.getColumn(4).getString())
                       .value_or(domain::SessionKind::kFailover);
    session.state = domain::sessionStateFrom(query.getColumn(5).getString())
                        .value_or(domain::SessionState::kFailed);
    session.restorePointBeforeUnix = optionalInt64(query.getColumn(6));
    session.testDurationSeconds = static_cast<std::uint32_t>(query.getColumn(7).getInt());
    session.error = query.getColumn(8).getString();
    session.scriptOutput = query.getColumn(9).getString();
    session.startedBy = query.getColumn(10).getString();
    session.startedUnix = query.getColumn(11).getInt64();
    session.finishedUnix = optionalInt64(query.getColumn(12));
    result.push_back(std::move(session));
  }
  CachedStatement vms(db, R"sql(
    SELECT replica_id, position, state, step, attempts, restore_point_id, error, started_unix, finished_unix
    FROM session_vms WHERE session_id = ? ORDER BY position)sql");
  for (auto& session : result) {
    vms.bind(1, session.id);
    while (vms.executeStep()) {
      domain::SessionVm vm;
      vm.replicaId = vms.getColumn(0).getString();
      vm.position = static_cast<std::uint32_t>(vms.getColumn(1).getInt());
      vm.state = domain::sessionVmStateFrom(vms.getColumn(2).getString())
                     .value_or(domain::SessionVmState::kFailed);
      vm.step = vms.getColumn(3).getString();
      vm.attempts = static_cast<std::uint32_t>(vms.getColumn(4).getInt());
      vm.restorePointId = vms.getColumn(5).getString();
      vm.error = vms.getColumn(6).getString();
      vm.startedUnix = optionalInt64(vms.getColumn(7));
      vm.finishedUnix = optionalInt64(vms.getColumn(8));
      session.vms.push_back(std::move(vm));
    }
    vms.reset();
  }
  return result;
}

// ---- tenant scope: replicas and restore points --------------------------------------------------

void SqliteTenantScope::setNetworkSubnet(const std::string& networkId, const std::string& cidr) {
  guarded("set the subnet of network " + networkId, [&] {
    CachedStatement update(
        db_, "UPDATE subscription_networks SET subnet = ? WHERE network_id = ? AND tenant_id = ?");
    update.bind(1, cidr);
    update.bind(2, networkId);
    update.bind(3, tenantId());
    expectOneRow(update.exec(), "network " + networkId);
  });
}

std::map<std::string, std::string> SqliteTenantScope::networkSubnets() {
  return guarded("read the subnets of tenant " + tenantId(), [&] {
    CachedStatement query(
        db_, "SELECT network_id, subnet FROM subscription_networks WHERE tenant_id = ?");
    query.bind(1, tenantId());
    std::map<std::string, std::string> result;
    while (query.executeStep())
      result[query.getColumn(0).getString()] = query.getColumn(1).getString();
    return result;
  });
}

void SqliteTenantScope::insertReplica(const domain::Replica& replica) {
  guarded("create replica \"" + replica.name + "\"", [&] {
    CachedStatement insert(db_, std::string("INSERT INTO replicas (") + kReplicaColumns +
                                    ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    insert.bind(1, replica.id);
    insert.bind(2, tenantId());
    insert.bind(3, replica.subscriptionId);
    insert.bind(4, replica.name);
    insert.bind(5, static_cast<std::int64_t>(replica.vcpus));
    insert.bind(6, static_cast<std::int64_t>(replica.cpuMhz));
    insert.bind(7, static_cast<std::int64_t>(replica.memoryMb));
    insert.bind(8, devicesJson(replica));
    insert.bind(9, std::string(domain::toString(replica.state)));
    insert.bind(10, replica.error);
    insert.bind(11, replica.deleting ? 1 : 0);
    insert.bind(12, replica.createdUnix);
    insert.exec();
  });
}

std::optional<domain::Replica> SqliteTenantScope::findReplica(const std::string& id) {
  return guarded("read replica " + id, [&]() -> std::optional<domain::Replica> {
    auto found = selectReplicas(db_, "WHERE id = ? AND tenant_id = ?", {id, tenantId()}, 1);
    if (found.empty()) return std::nullopt;
    return std::move(found.front());
  });
}

std::vector<domain::Replica> SqliteTenantScope::replicas(const std::string& subscriptionId) {
  return guarded("list replicas of tenant " + tenantId(), [&] {
    if (subscriptionId.empty())
      return selectReplicas(db_, "WHERE tenant_id = ?", {tenantId()}, 1'000'000);
    return selectReplicas(db_, "WHERE tenant_id = ? AND subscription_id = ?",
                          {tenantId(), subscriptionId}, 1'000'000);
  });
}

std::vector<domain::Replica> SqliteTenantScope::replicasWithoutDevices() {
  return guarded("list replicas of tenant " + tenantId(), [&] {
    return selectReplicas(db_, "WHERE tenant_id = ?", {tenantId()}, 1'000'000, false);
  });
}

void SqliteTenantScope::updateReplica(const domain::Replica& replica) {
  guarded("update replica " + replica.id, [&] {
    CachedStatement update(db_, R"sql(
      UPDATE replicas SET name = ?, devices_json = ?, state = ?, error = ?, deleting = ?
      WHERE id = ? AND tenant_id = ?)sql");
    update.bind(1, replica.name);
    update.bind(2, devicesJson(replica));
    update.bind(3, std::string(domain::toString(replica.state)));
    update.bind(4, replica.error);
    update.bind(5, replica.deleting ? 1 : 0);
    update.bind(6, replica.id);
    update.bind(7, tenantId());
    expectOneRow(update.exec(), "replica " + replica.id);
  });
}

bool SqliteTenantScope::setReplicaState(const std::string& replicaId, domain::ReplicaState state,
                                        const std::string& error) {
  return guarded("set the state of replica " + replicaId, [&] {
    CachedStatement update(
        db_, "UPDATE replicas SET state = ?, error = ? WHERE id = ? AND tenant_id = ?");
    update.bind(1, std::string(domain::toString(state)));
    update.bind(2, error);
    update.bind(3, replicaId);
    update.bind(4, tenantId());
    return update.exec() == 1;
  });
}

void SqliteTenantScope::deleteReplica(const std::string& id) {
  guarded("delete replica " + id, [&] {
    CachedStatement members(
        db_, "SELECT plan_id FROM failover_plan_members WHERE replica_id = ? LIMIT 1");
    members.bind(1, id);
    if (members.executeStep()) {
      throw StoreError(Kind::kConflict, "replica " + id + " is in failover plan " +
                                            members.getColumn(0).getString() +
                                            "; take it out of the plan first");
    }
    CachedStatement remove(db_, "DELETE FROM replicas WHERE id = ? AND tenant_id = ?");
    remove.bind(1, id);
    remove.bind(2, tenantId());
    expectOneRow(remove.exec(), "replica " + id);
  });
}

void SqliteTenantScope::insertRestorePoint(const domain::RestorePoint& point) {
  guarded("record restore point " + point.id, [&] {
    CachedStatement insert(db_, R"sql(
      INSERT INTO restore_points (id, replica_id, tenant_id, description, created_unix, origin,
                                  data_bytes)
      SELECT ?1, id, tenant_id, ?2, ?3, ?6, ?7 FROM replicas WHERE id = ?4 AND tenant_id = ?5
      ON CONFLICT (replica_id, id) DO NOTHING)sql");
    insert.bind(1, point.id);
    insert.bind(2, point.description);
    insert.bind(3, point.createdUnix);
    insert.bind(4, point.replicaId);
    insert.bind(5, tenantId());
    insert.bind(6, point.origin);
    insert.bind(7, static_cast<std::int64_t>(point.dataBytes));
    insert.exec();
  });
}

namespace {

constexpr const char* kRestorePointColumns =
    "rp.id, rp.replica_id, rp.tenant_id, rp.description, rp.created_unix, rp.origin, "
    "rp.data_bytes";

domain::RestorePoint readRestorePoint(SQLite::Statement& query) {
  return {query.getColumn(0).getString(),
          query.getColumn(1).getString(),
          query.getColumn(2).getString(),
          query.getColumn(3).getString(),
          query.getColumn(4).getInt64(),
          query.getColumn(5).getString(),
          static_cast<std::uint64_t>(query.getColumn(6).getInt64())};
}

}  // namespace

std::vector<domain::RestorePoint> SqliteTenantScope::restorePoints(const std::string& replicaId) {
  return guarded("list restore points of " + replicaId, [&] {
    CachedStatement query(db_, std::string("SELECT ") + kRestorePointColumns + R"sql(
      FROM restore_points rp WHERE rp.replica_id = ? AND rp.tenant_id = ?
      ORDER BY rp.created_unix, rp.rowid)sql");
    query.bind(1, replicaId);
    query.bind(2, tenantId());
    std::vector<domain::RestorePoint> result;
    while (query.executeStep()) result.push_back(readRestorePoint(query));
    return result;
  });
}

std::map<std::string, std::string> SqliteTenantScope::newestRestorePoints(
    const std::optional<std::string>& replicaId, std::optional<std::int64_t> atOrBefore) {
  return guarded("find the newest restore points of tenant " + tenantId(), [&] {
    // Oldest first along restore_points_by_tenant (a point's tenant is its replica's): the last
    // row of a replica is its newest.
    CachedStatement query(db_, std::string(R"sql(
      SELECT replica_id, id FROM restore_points
      WHERE tenant_id = ?1 AND (?2 IS NULL OR created_unix <= ?2))sql") +
                                   (replicaId ? " AND replica_id = ?3" : "") +
                                   " ORDER BY replica_id, created_unix, rowid");
    query.bind(1, tenantId());
    bindOptional(query, 2, atOrBefore);
    if (replicaId) query.bind(3, *replicaId);
    std::map<std::string, std::string> newest;
    while (query.executeStep())
      newest.insert_or_assign(query.getColumn(0).getString(), query.getColumn(1).getString());
    return newest;
  });
}

void SqliteTenantScope::deleteRestorePoint(const std::string& replicaId,
                                           const std::string& pointId) {
  guarded("delete restore point " + pointId, [&] {
    CachedStatement remove(
        db_, "DELETE FROM restore_points WHERE replica_id = ? AND id = ? AND tenant_id = ?");
    remove.bind(1, replicaId);
    remove.bind(2, pointId);
    remove.bind(3, tenantId());
    remove.exec();
  });
}

// ---- tenant scope: failover plans and sessions
// ---------------------------------------------------

void SqliteTenantScope::writePlanMembers(const domain::FailoverPlan& plan) {
  CachedStatement clear(db_, "DELETE FROM failover_plan_members WHERE plan_id = ?");
  clear.bind(1, plan.id);
  clear.exec();
  CachedStatement insert(db_, R"sql(
    INSERT INTO failover_plan_members (plan_id, replica_id)
    SELECT ?1, id FROM replicas WHERE id = ?2 AND tenant_id = ?3)sql");
  for (const auto& member : plan.members) {
    insert.bind(1, plan.id);
    insert.bind(2, member.replicaId);
    insert.bind(3, tenantId());
    if (insert.exec() == 0)
      throw StoreError(Kind::kNotFound, "replica " + member.replicaId + " not found");
    insert.reset();
  }
}

void SqliteTenantScope::insertFailoverPlan(const domain::FailoverPlan& plan) {
  guarded("create failover plan \"" + plan.name + "\"", [&] {
    CachedStatement insert(db_, std::string("INSERT INTO failover_plans (") + kPlanColumns +
                                    ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    insert.bind(1, plan.id);
    insert.bind(2, tenantId());
    insert.bind(3, plan.name);
    insert.bind(4, plan.description);
    insert.bind(5, static_cast<std::int64_t>(plan.parallelism));
    insert.bind(6, nlohmann::json(plan.members).dump());
    insert.bind(7, plan.preScript.command);
    insert.bind(8, static_cast<std::int64_t>(plan.preScript.timeoutSeconds));
    insert.bind(9, plan.postScript.command);
    insert.bind(10, static_cast<std::int64_t>(plan.postScript.timeoutSeconds));
    insert.bind(11, std::string(domain::toString(plan.state)));
    insert.bind(12, plan.lastSessionId);
    insert.bind(13, plan.createdUnix);
    insert.exec();
    writePlanMembers(plan);
  });
}

std::optional<domain::FailoverPlan> SqliteTenantScope::findFailoverPlan(const std::string& id) {
  return guarded("read failover plan " + id, [&]() -> std::optional<domain::FailoverPlan> {
    auto found = selectFailoverPlans(db_, "WHERE id = ? AND tenant_id = ?", {id, tenantId()});
    if (found.empty()) return std::nullopt;
    return std::move(found.front());
  });
}

std::vector<domain::FailoverPlan> SqliteTenantScope::failoverPlans() {
  return guarded("list failover plans of tenant " + tenantId(),
                 [&] { return selectFailoverPlans(db_, "WHERE tenant_id = ?", {tenantId()}); });
}

void SqliteTenantScope::updateFailoverPlan(const domain::FailoverPlan& plan) {
  guarded("update failover plan " + plan.id, [&] {
    CachedStatement update(db_, R"sql(
      UPDATE failover_plans SET name = ?, description = ?, parallelism = ?, members_json = ?, pre_script = ?,
        pre_timeout_s = ?, post_script = ?, post_timeout_s = ?, state = ?, last_session_id = ?
      WHERE id = ? AND tenant_id = ?)sql");
    update.bind(1, plan.name);
    update.bind(2, plan.description);
    update.bind(3, static_cast<std::int64_t>(plan.parallelism));
    update.bind(4, nlohmann::json(plan.members).dump());
    update.bind(5, plan.preScript.command);
    update.bind(6, static_cast<std::int64_t>(plan.preScript.timeoutSeconds));
    update.bind(7, plan.postScript.command);
    update.bind(8, static_cast<std::int64_t>(plan.postScript.timeoutSeconds));
    update.bind(9, std::string(domain::toString(plan.state)));
    update.bind(10, plan.lastSessionId);
    update.bind(11, plan.id);
    update.bind(12, tenantId());
    expectOneRow(update.exec(), "failover plan " + plan.id);
    writePlanMembers(plan);
  });
}

void SqliteTenantScope::setFailoverPlanState(const std::string& planId,
                                             domain::FailoverPlanState state,
                                             const std::string& lastSessionId) {
  guarded("set the state of failover plan " + planId, [&] {
    CachedStatement update(db_, R"sql(
      UPDATE failover_plans SET state = ?, last_session_id = ? WHERE id = ? AND tenant_id = ?)sql");
    update.bind(1, std::string(domain::toString(state)));
    update.bind(2, lastSessionId);
    update.bind(3, planId);
    update.bind(4, tenantId());
    expectOneRow(update.exec(), "failover plan " + planId);
  });
}

void SqliteTenantScope::deleteFailoverPlan(const std::string& id) {
  guarded("delete failover plan " + id, [&] {
    CachedStatement remove(db_, "DELETE FROM failover_plans WHERE id = ? AND tenant_id = ?");
    remove.bind(1, id);
    remove.bind(2, tenantId());
    expectOneRow(remove.exec(), "failover plan " + id);
  });
}

void SqliteTenantScope::insertSession(const domain::FailoverSession& session) {
  guarded("start session " + session.id, [&] {
    CachedStatement insert(db_, std::string("INSERT INTO failover_sessions (") + kSessionColumns +
                                    ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    insert.bind(1, session.id);
    insert.bind(2, tenantId());
    insert.bind(3, session.planId);
    insert.bind(4, session.taskId);
    insert.bind(5, std::string(domain::toString(session.kind)));
    insert.bind(6, std::string(domain::toString(session.state)));
    bindOptional(insert, 7, session.restorePointBeforeUnix);
    insert.bind(8, static_cast<std::int64_t>(session.testDurationSeconds));
    insert.bind(9, session.error);
    insert.bind(10, session.scriptOutput);
    insert.bind(11, session.startedBy);
    insert.bind(12, session.startedUnix);
    bindOptional(insert, 13, session.finishedUnix);
    insert.exec();
    // Every column: a VM may start with its session (its step and start journalled at once).
    CachedStatement vm(db_, R"sql(
      INSERT INTO session_vms (session_id, replica_id, position, state, step, attempts, restore_point_id, error,
        started_unix, finished_unix) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?))sql");
    for (const auto& member : session.vms) {
      vm.bind(1, session.id);
      vm.bind(2, member.replicaId);
      vm.bind(3, static_cast<std::int64_t>(member.position));
      bindJournalledState(vm, 4, member);
      vm.exec();
      vm.reset();
    }
  });
}

std::optional<domain::FailoverSession> SqliteTenantScope::findSession(const std::string& id) {
  return guarded("read session " + id, [&]() -> std::optional<domain::FailoverSession> {
    auto found = selectSessions(db_, "WHERE id = ? AND tenant_id = ?", {id, tenantId()}, 1);
    if (found.empty()) return std::nullopt;
    return std::move(found.front());
  });
}

std::vector<domain::FailoverSession> SqliteTenantScope::sessions(const std::string& planId,
                                                                 std::uint32_t limit) {
  return guarded("list sessions of tenant " + tenantId(), [&] {
    if (planId.empty()) return selectSessions(db_, "WHERE tenant_id = ?", {tenantId()}, limit);
    return selectSessions(db_, "WHERE tenant_id = ? AND plan_id = ?", {tenantId(), planId}, limit);
  });
}

std::vector<domain::FailoverSession> SqliteTenantScope::sessionsInProgress() {
  return guarded("list sessions in progress of tenant " + tenantId(), [&] {
    return selectSessions(db_, "WHERE tenant_id = ? AND state = 'in_progress'", {tenantId()},
                          1'000'000);
  });
}

std::map<std::string, std::string> SqliteTenantScope::pointsOfLastFailovers(
    const std::vector<std::string>& replicaIds) {
  return guarded("find the points of the last failovers of tenant " + tenantId(), [&] {
    const std::set<std::string> wanted(replicaIds.begin(), replicaIds.end());
    // Newest session first, as sessions() lists them; stops once every replica was seen.
    CachedStatement query(db_, R"sql(
      SELECT v.replica_id, v.restore_point_id
      FROM failover_sessions s JOIN session_vms v ON v.session_id = s.id
      WHERE s.tenant_id = ? AND s.kind IN ('failover', 'partial_failover')
        AND v.restore_point_id <> ''
      ORDER BY s.started_unix DESC, s.rowid DESC)sql");
    query.bind(1, tenantId());
    std::map<std::string, std::string> points;
    while (points.size() < wanted.size() && query.executeStep()) {
      auto replicaId = query.getColumn(0).getString();
      if (wanted.contains(replicaId))
        points.emplace(std::move(replicaId), query.getColumn(1).getString());
    }
    return points;
  });
}

void SqliteTenantScope::updateSession(const domain::FailoverSession& session) {
  guarded("update session " + session.id, [&] {
    CachedStatement update(db_, R"sql(
      UPDATE failover_sessions SET state = ?, error = ?, script_output = ?, finished_unix = ?
      WHERE id = ? AND tenant_id = ?)sql");
    update.bind(1, std::string(domain::toString(session.state)));
    update.bind(2, session.error);
    update.bind(3, session.scriptOutput);
    bindOptional(update, 4, session.finishedUnix);
    update.bind(5, session.id);
    update.bind(6, tenantId());
    expectOneRow(update.exec(), "session " + session.id);
  });
}

void SqliteTenantScope::updateSessionVms(const std::string& sessionId,
                                         std::span<const domain::SessionVm> vms) {
  guarded("journal session " + sessionId, [&] {
    // The session is the tenant's: checked once, not once per VM (a journal batch holds many).
    CachedStatement owned(db_, "SELECT 1 FROM failover_sessions WHERE id = ? AND tenant_id = ?");
    owned.bind(1, sessionId);
    owned.bind(2, tenantId());
    if (!owned.executeStep())
      throw StoreError(Kind::kNotFound, "session " + sessionId + " not found");
    owned.reset();
    CachedStatement update(db_, R"sql(
      UPDATE session_vms SET state = ?, step = ?, attempts = ?, restore_point_id = ?, error = ?,
        started_unix = ?, finished_unix = ?
      WHERE session_id = ? AND replica_id = ?)sql");
    for (const auto& vm : vms) {
      bindJournalledState(update, 1, vm);
      update.bind(8, sessionId);
      update.bind(9, vm.replicaId);
      expectOneRow(update.exec(), "session " + sessionId + " replica " + vm.replicaId);
      update.reset();
    }
  });
}

// ---- provider scope
// ------------------------------------------------------------------------------

std::optional<domain::Replica> SqliteTransaction::findAnyReplica(const std::string& id) {
  return guarded("read replica " + id, [&]() -> std::optional<domain::Replica> {
    auto found = selectReplicas(*db_, "WHERE id = ?", {id}, 1);
    if (found.empty()) return std::nullopt;
    return std::move(found.front());
  });
}

std::vector<domain::Replica> SqliteTransaction::listReplicas(std::uint32_t limit) {
  return guarded("list replicas", [&] { return selectReplicas(*db_, "", {}, limit); });
}

std::vector<domain::Replica> SqliteTransaction::replicasOnCloudHost(
    const std::string& cloudHostId) {
  return guarded("list replicas on cloud host " + cloudHostId, [&] {
    return selectReplicas(
        *db_, "WHERE subscription_id IN (SELECT id FROM subscriptions WHERE cloud_host_id = ?)",
        {cloudHostId}, 10'000'000);
  });
}

std::optional<domain::FailoverPlan> SqliteTransaction::findAnyFailoverPlan(const std::string& id) {
  return guarded("read failover plan " + id, [&]() -> std::optional<domain::FailoverPlan> {
    auto found = selectFailoverPlans(*db_, "WHERE id = ?", {id});
    if (found.empty()) return std::nullopt;
    return std::move(found.front());
  });
}

std::vector<domain::FailoverPlan> SqliteTransaction::listFailoverPlans() {
  return guarded("list failover plans", [&] { return selectFailoverPlans(*db_, "", {}); });
}

std::optional<domain::FailoverSession> SqliteTransaction::findAnySession(const std::string& id) {
  return guarded("read session " + id, [&]() -> std::optional<domain::FailoverSession> {
    auto found = selectSessions(*db_, "WHERE id = ?", {id}, 1);
    if (found.empty()) return std::nullopt;
    return std::move(found.front());
  });
}

std::vector<domain::FailoverSession> SqliteTransaction::listSessions(std::uint32_t limit) {
  return guarded("list sessions", [&] { return selectSessions(*db_, "", {}, limit); });
}

std::vector<domain::FailoverSession> SqliteTransaction::sessionsInProgress() {
  return guarded("list sessions in progress", [&] {
    return selectSessions(*db_, "WHERE state = 'in_progress'", {}, 1'000'000);
  });
}

std::string SqliteTransaction::setting(const std::string& key) {
  return guarded("read setting " + key, [&]() -> std::string {
    CachedStatement query(*db_, "SELECT value FROM settings WHERE key = ?");
    query.bind(1, key);
    return query.executeStep() ? query.getColumn(0).getString() : std::string();
  });
}

void SqliteTransaction::setSetting(const std::string& key, const std::string& value) {
  guarded("write setting " + key, [&] {
    CachedStatement upsert(*db_, R"sql(
      INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value)sql");
    upsert.bind(1, key);
    upsert.bind(2, value);
    upsert.exec();
  });
}

}  // namespace warmsite::store::sqlite
