// Tasks: the engine's durable queue and history.
#include <algorithm>

#include "store/sqlite_transaction.h"

namespace warmsite::store::sqlite {

using Kind = StoreError::Kind;

std::vector<domain::Task> selectTasks(SQLite::Database& db, const std::string& where,
                                      const std::vector<std::string>& values, std::uint32_t limit) {
  CachedStatement query(db, R"sql(
    SELECT id, tenant_id, kind, target_id, state, progress, error, created_by, created_unix, started_unix,
           finished_unix
    FROM tasks )sql" + where + " ORDER BY created_unix DESC, rowid DESC LIMIT " +
                                std::to_string(limit));
  bindAll(query, values);
  std::vector<domain::Task> result;
  while (query.executeStep()) {
    domain::Task task;
    task.id = query.getColumn(0).getString();
    task.tenantId = textOrEmpty(query.getColumn(1));
    task.kind = query.getColumn(2).getString();
    task.targetId = query.getColumn(3).getString();
    task.state =
        domain::taskStateFrom(query.getColumn(4).getString()).value_or(domain::TaskState::kFailed);
    task.progress = static_cast<std::uint32_t>(query.getColumn(5).getInt());
    task.error = query.getColumn(6).getString();
    task.createdBy = query.getColumn(7).getString();
    task.createdUnix = query.getColumn(8).getInt64();
    task.startedUnix = optionalInt64(query.getColumn(9));
    task.finishedUnix = optionalInt64(query.getColumn(10));
    result.push_back(std::move(task));
  }
  return result;
}

void SqliteTransaction::insertTask(const domain::Task& task) {
  guarded("queue task " + task.kind, [&] {
    CachedStatement insert(*db_, R"sql(
      INSERT INTO tasks (id, tenant_id, kind, target_id, state, progress, error, created_by, created_unix,
                         started_unix, finished_unix)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?))sql");
    insert.bind(1, task.id);
    bindText(insert, 2, task.tenantId);
    insert.bind(3, task.kind);
    insert.bind(4, task.targetId);
    insert.bind(5, std::string(domain::toString(task.state)));
    insert.bind(6, static_cast<std::int64_t>(task.progress));
    insert.bind(7, task.error);
    insert.bind(8, task.createdBy);
    insert.bind(9, task.createdUnix);
    bindOptional(insert, 10, task.startedUnix);
    bindOptional(insert, 11, task.finishedUnix);
    insert.exec();
  });
}

std::optional<domain::Task> SqliteTransaction::findAnyTask(const std::string& id) {
  return guarded("read task " + id, [&]() -> std::optional<domain::Task> {
    auto found = selectTasks(*db_, "WHERE id = ?", {id}, 1);
    if (found.empty()) return std::nullopt;
    return std::move(found.front());
  });
}

std::vector<domain::Task> SqliteTransaction::listTasks(std::uint32_t limit) {
  return guarded("list tasks", [&] { return selectTasks(*db_, "", {}, limit); });
}

std::vector<domain::Task> SqliteTransaction::tasksInState(domain::TaskState state) {
  return guarded("list tasks in a state", [&] {
    auto tasks =
        selectTasks(*db_, "WHERE state = ?", {std::string(domain::toString(state))}, 1'000'000);
    std::reverse(tasks.begin(), tasks.end());  // oldest first: the queue's order
    return tasks;
  });
}

bool SqliteTransaction::anyTaskInState(domain::TaskState state) {
  return guarded("look for tasks in a state", [&] {
    CachedStatement query(*db_, "SELECT 1 FROM tasks WHERE state = ? LIMIT 1");
    query.bind(1, std::string(domain::toString(state)));
    return query.executeStep();
  });
}

void SqliteTransaction::updateTask(const domain::Task& task) {
  guarded("update task " + task.id, [&] {
    CachedStatement update(*db_, R"sql(
      UPDATE tasks SET state = ?, progress = ?, error = ?, started_unix = ?, finished_unix = ? WHERE id = ?)sql");
    update.bind(1, std::string(domain::toString(task.state)));
    update.bind(2, static_cast<std::int64_t>(task.progress));
    update.bind(3, task.error);
    bindOptional(update, 4, task.startedUnix);
    bindOptional(update, 5, task.finishedUnix);
    update.bind(6, task.id);
    if (update.exec() == 0) throw StoreError(Kind::kNotFound, "task " + task.id + " not found");
  });
}

void SqliteTransaction::requestCancel(const std::string& taskId) {
  guarded("cancel task " + taskId, [&] {
    CachedStatement update(*db_, "UPDATE tasks SET cancel_requested = 1 WHERE id = ?");
    update.bind(1, taskId);
    if (update.exec() == 0) throw StoreError(Kind::kNotFound, "task " + taskId + " not found");
  });
}

bool SqliteTransaction::cancelRequested(const std::string& taskId) {
  return guarded("read task " + taskId, [&] {
    CachedStatement query(*db_, "SELECT cancel_requested FROM tasks WHERE id = ?");
    query.bind(1, taskId);
    return query.executeStep() && query.getColumn(0).getInt() != 0;
  });
}

}  // namespace warmsite::store::sqlite
