// Replication jobs and runs.
#include <nlohmann/json.hpp>

#include "store/sqlite_transaction.h"

namespace warmsite::domain {
// How a run's per-disk figures are kept in their JSON column.
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(ReplicationRunDisk, diskId, sizeBytes, changedBytes, zeroBytes,
                                   wireBytes, extents, durationMs)
}  // namespace warmsite::domain

namespace warmsite::store::sqlite {

using Kind = StoreError::Kind;

namespace {

constexpr const char* kRunColumns =
    "id, tenant_id, replica_id, job_id, kind, reason, state, base_restore_point_id, "
    "restore_point_id, disks_json, error, started_unix, finished_unix";

constexpr const char* kJobColumns =
    "id, tenant_id, name, replica_ids_json, schedule_minutes, retention, created_unix";

domain::ReplicationJob readJob(SQLite::Statement& row) {
  domain::ReplicationJob job;
  job.id = row.getColumn(0).getString();
  job.tenantId = row.getColumn(1).getString();
  job.name = row.getColumn(2).getString();
  job.replicaIds =
      nlohmann::json::parse(row.getColumn(3).getString()).get<std::vector<std::string>>();
  if (!row.getColumn(4).isNull()) {
    job.scheduleMinutes = static_cast<std::uint32_t>(row.getColumn(4).getInt64());
  }
  job.retention = static_cast<std::uint32_t>(row.getColumn(5).getInt64());
  job.createdUnix = row.getColumn(6).getInt64();
  return job;
}

void bindRun(SQLite::Statement& statement, const domain::ReplicationRun& run) {
  statement.bind(1, run.id);
  statement.bind(2, run.tenantId);
  statement.bind(3, run.replicaId);
  statement.bind(4, run.jobId);
  statement.bind(5, run.kind);
  statement.bind(6, run.reason);
  statement.bind(7, std::string(domain::toString(run.state)));
  statement.bind(8, run.baseRestorePointId);
  statement.bind(9, run.restorePointId);
  statement.bind(10, nlohmann::json(run.disks).dump());
  statement.bind(11, run.error);
  statement.bind(12, run.startedUnix);
  if (run.finishedUnix) {
    statement.bind(13, *run.finishedUnix);
  } else {
    statement.bind(13);
  }
}

std::vector<domain::ReplicationJob> selectReplicationJobs(SQLite::Database& db,
                                                          const std::string& where,
                                                          const std::vector<std::string>& values) {
  CachedStatement query(db, std::string("SELECT ") + kJobColumns + " FROM replication_jobs " +
                                where + " ORDER BY tenant_id, name");
  bindAll(query, values);
  std::vector<domain::ReplicationJob> result;
  while (query.executeStep()) result.push_back(readJob(query));
  return result;
}

}  // namespace

std::vector<domain::ReplicationRun> selectReplicationRuns(SQLite::Database& db,
                                                          const std::string& where,
                                                          const std::vector<std::string>& values,
                                                          std::uint32_t limit) {
  CachedStatement query(db, std::string("SELECT ") + kRunColumns + " FROM replication_runs " +
                                where + " ORDER BY started_unix DESC, rowid DESC LIMIT " +
                                std::to_string(limit));
  bindAll(query, values);
  std::vector<domain::ReplicationRun> result;
  while (query.executeStep()) {
    domain::ReplicationRun run;
    run.id = query.getColumn(0).getString();
    run.tenantId = query.getColumn(1).getString();
    run.replicaId = query.getColumn(2).getString();
    run.jobId = query.getColumn(3).getString();
    run.kind = query.getColumn(4).getString();
    run.reason = query.getColumn(5).getString();
    run.state = domain::replicationRunStateFrom(query.getColumn(6).getString())
                    .value_or(domain::ReplicationRunState::kFailed);
    run.baseRestorePointId = query.getColumn(7).getString();
    run.restorePointId = query.getColumn(8).getString();
    run.disks = nlohmann::json::parse(query.getColumn(9).getString())
                    .get<std::vector<domain::ReplicationRunDisk>>();
    run.error = query.getColumn(10).getString();
    run.startedUnix = query.getColumn(11).getInt64();
    if (!query.getColumn(12).isNull()) run.finishedUnix = query.getColumn(12).getInt64();
    result.push_back(std::move(run));
  }
  return result;
}

// ---- tenant scope
// --------------------------------------------------------------------------------

void SqliteTenantScope::insertReplicationJob(const domain::ReplicationJob& job) {
  guarded("create replication job " + job.name, [&] {
    CachedStatement insert(db_, std::string("INSERT INTO replication_jobs (") + kJobColumns +
                                    ") VALUES (?, ?, ?, ?, ?, ?, ?)");
    insert.bind(1, job.id);
    insert.bind(2, tenantId());
    insert.bind(3, job.name);
    insert.bind(4, nlohmann::json(job.replicaIds).dump());
    if (job.scheduleMinutes) {
      insert.bind(5, static_cast<std::int64_t>(*job.scheduleMinutes));
    } else {
      insert.bind(5);
    }
    insert.bind(6, static_cast<std::int64_t>(job.retention));
    insert.bind(7, job.createdUnix);
    insert.exec();
  });
}

std::optional<domain::ReplicationJob> SqliteTenantScope::findReplicationJob(const std::string& id) {
  return guarded("read replication job " + id, [&]() -> std::optional<domain::ReplicationJob> {
    CachedStatement query(db_, std::string("SELECT ") + kJobColumns +
                                   " FROM replication_jobs WHERE id = ? AND tenant_id = ?");
    query.bind(1, id);
    query.bind(2, tenantId());
    if (!query.executeStep()) return std::nullopt;
    return readJob(query);
  });
}

std::vector<domain::ReplicationJob> SqliteTenantScope::replicationJobs() {
  return guarded("list replication jobs",
                 [&] { return selectReplicationJobs(db_, "WHERE tenant_id = ?", {tenantId()}); });
}

void SqliteTenantScope::deleteReplicationJob(const std::string& id) {
  guarded("delete replication job " + id, [&] {
    CachedStatement remove(db_, "DELETE FROM replication_jobs WHERE id = ? AND tenant_id = ?");
    remove.bind(1, id);
    remove.bind(2, tenantId());
    if (remove.exec() == 0)
      throw StoreError(Kind::kNotFound, "replication job " + id + " not found");
  });
}

void SqliteTenantScope::insertReplicationRun(const domain::ReplicationRun& run) {
  guarded("record replication run " + run.id, [&] {
    // The replica must be this tenant's: the SELECT yields no row otherwise.
    CachedStatement insert(db_, std::string("INSERT INTO replication_runs (") + kRunColumns +
                                    ") SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, "
                                    "?13 FROM replicas WHERE id = ?3 AND tenant_id = ?2");
    domain::ReplicationRun scoped = run;
    scoped.tenantId = tenantId();
    bindRun(insert, scoped);
    if (insert.exec() == 0) {
      throw StoreError(Kind::kNotFound, "replica " + run.replicaId + " not found");
    }
  });
}

void SqliteTenantScope::updateReplicationRun(const domain::ReplicationRun& run) {
  guarded("update replication run " + run.id, [&] {
    CachedStatement update(db_, R"sql(
      UPDATE replication_runs SET replica_id = ?3, job_id = ?4, kind = ?5, reason = ?6, state = ?7,
        base_restore_point_id = ?8, restore_point_id = ?9, disks_json = ?10, error = ?11,
        started_unix = ?12, finished_unix = ?13
      WHERE id = ?1 AND tenant_id = ?2)sql");
    domain::ReplicationRun scoped = run;
    scoped.tenantId = tenantId();
    bindRun(update, scoped);
    if (update.exec() == 0) {
      throw StoreError(Kind::kNotFound, "replication run " + run.id + " not found");
    }
  });
}

std::optional<domain::ReplicationRun> SqliteTenantScope::findReplicationRun(const std::string& id) {
  return guarded("read replication run " + id, [&]() -> std::optional<domain::ReplicationRun> {
    auto runs = selectReplicationRuns(db_, "WHERE id = ? AND tenant_id = ?", {id, tenantId()}, 1);
    if (runs.empty()) return std::nullopt;
    return std::move(runs.front());
  });
}

std::vector<domain::ReplicationRun> SqliteTenantScope::replicationRuns(const std::string& replicaId,
                                                                       std::uint32_t limit) {
  return guarded("list replication runs", [&] {
    if (replicaId.empty()) {
      return selectReplicationRuns(db_, "WHERE tenant_id = ?", {tenantId()}, limit);
    }
    return selectReplicationRuns(db_, "WHERE tenant_id = ? AND replica_id = ?",
                                 {tenantId(), replicaId}, limit);
  });
}

// ---- provider scope
// ------------------------------------------------------------------------------

std::vector<domain::ReplicationJob> SqliteTransaction::listReplicationJobs() {
  return guarded("list replication jobs", [&] { return selectReplicationJobs(*db_, "", {}); });
}

std::vector<domain::ReplicationRun> SqliteTransaction::listReplicationRuns(std::uint32_t limit) {
  return guarded("list replication runs",
                 [&] { return selectReplicationRuns(*db_, "", {}, limit); });
}

std::size_t SqliteTransaction::failRunningReplicationRuns(const std::string& reason,
                                                          std::int64_t nowUnix) {
  return guarded("close interrupted replication runs", [&] {
    CachedStatement update(*db_, R"sql(
      UPDATE replication_runs SET state = 'failed', error = ?, finished_unix = ?
      WHERE state = 'running')sql");
    update.bind(1, reason);
    update.bind(2, nowUnix);
    return static_cast<std::size_t>(update.exec());
  });
}

}  // namespace warmsite::store::sqlite
