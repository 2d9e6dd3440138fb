// Tenants, accounts, sessions, the audit log and service settings.
#include "store/sqlite_transaction.h"

namespace warmsite::store::sqlite {

using Kind = StoreError::Kind;

namespace {

constexpr const char* kTenantColumns =
    "id, name, description, enabled, lease_expires_unix, max_concurrent_tasks, created_unix";

domain::Tenant readTenant(SQLite::Statement& row) {
  domain::Tenant tenant;
  tenant.id = row.getColumn(0).getString();
  tenant.name = row.getColumn(1).getString();
  tenant.description = row.getColumn(2).getString();
  tenant.enabled = row.getColumn(3).getInt() != 0;
  tenant.leaseExpiresUnix = optionalInt64(row.getColumn(4));
  tenant.maxConcurrentTasks = static_cast<std::uint32_t>(row.getColumn(5).getInt64());
  tenant.createdUnix = row.getColumn(6).getInt64();
  return tenant;
}

constexpr const char* kAccountColumns =
    "id, name, role, tenant_id, password_hash, failed_logins, locked_until_unix, created_unix";

domain::Account readAccount(SQLite::Statement& row) {
  domain::Account account;
  account.id = row.getColumn(0).getString();
  account.name = row.getColumn(1).getString();
  account.role =
      row.getColumn(2).getString() == "tenant" ? domain::Role::kTenant : domain::Role::kProvider;
  account.tenantId = textOrEmpty(row.getColumn(3));
  account.passwordHash = row.getColumn(4).getString();
  account.failedLogins = static_cast<std::uint32_t>(row.getColumn(5).getInt64());
  account.lockedUntilUnix = optionalInt64(row.getColumn(6));
  account.createdUnix = row.getColumn(7).getInt64();
  return account;
}

std::optional<domain::Account> selectAccount(SQLite::Database& db, const char* where,
                                             const std::string& value) {
  CachedStatement query(db,
                        std::string("SELECT ") + kAccountColumns + " FROM accounts WHERE " + where);
  query.bind(1, value);
  if (!query.executeStep()) return std::nullopt;
  return readAccount(query);
}

// Runs a one-parameter statement and reports kNotFound when it changed no row.
void changeOne(SQLite::Database& db, const std::string& sql, const std::string& id,
               const std::string& what) {
  CachedStatement statement(db, sql);
  statement.bind(1, id);
  if (statement.exec() == 0) throw StoreError(Kind::kNotFound, what + " " + id + " not found");
}

}  // namespace

// ---- tenants -----------------------------------------------------------------------------------

void SqliteTransaction::insertTenant(const domain::Tenant& tenant) {
  guarded("create tenant \"" + tenant.name + "\"", [&] {
    CachedStatement insert(*db_, std::string("INSERT INTO tenants (") + kTenantColumns +
                                     ") VALUES (?, ?, ?, ?, ?, ?, ?)");
    insert.bind(1, tenant.id);
    insert.bind(2, tenant.name);
    insert.bind(3, tenant.description);
    insert.bind(4, tenant.enabled ? 1 : 0);
    bindOptional(insert, 5, tenant.leaseExpiresUnix);
    insert.bind(6, static_cast<std::int64_t>(tenant.maxConcurrentTasks));
    insert.bind(7, tenant.createdUnix);
    insert.exec();
  });
}

std::optional<domain::Tenant> SqliteTransaction::findTenant(const std::string& id) {
  return guarded("read tenant " + id, [&]() -> std::optional<domain::Tenant> {
    CachedStatement query(*db_,
                          std::string("SELECT ") + kTenantColumns + " FROM tenants WHERE id = ?");
    query.bind(1, id);
    if (!query.executeStep()) return std::nullopt;
    return readTenant(query);
  });
}

std::vector<domain::Tenant> SqliteTransaction::listTenants() {
  return guarded("list tenants", [&] {
    CachedStatement query(*db_,
                          std::string("SELECT ") + kTenantColumns + " FROM tenants ORDER BY name");
    std::vector<domain::Tenant> result;
    while (query.executeStep()) result.push_back(readTenant(query));
    return result;
  });
}

void SqliteTransaction::updateTenant(const domain::Tenant& tenant) {
  guarded("update tenant " + tenant.id, [&] {
    CachedStatement update(*db_, R"sql(
      UPDATE tenants SET name = ?2, description = ?3, enabled = ?4, lease_expires_unix = ?5,
                         max_concurrent_tasks = ?6
      WHERE id = ?1)sql");
    update.bind(1, tenant.id);
    update.bind(2, tenant.name);
    update.bind(3, tenant.description);
    update.bind(4, tenant.enabled ? 1 : 0);
    bindOptional(update, 5, tenant.leaseExpiresUnix);
    update.bind(6, static_cast<std::int64_t>(tenant.maxConcurrentTasks));
    if (update.exec() == 0) throw StoreError(Kind::kNotFound, "tenant " + tenant.id + " not found");
    // The tenant's login name follows the tenant's name.
    CachedStatement rename(*db_, "UPDATE accounts SET name = ? WHERE tenant_id = ?");
    rename.bind(1, tenant.name);
    rename.bind(2, tenant.id);
    rename.exec();
  });
}

void SqliteTransaction::deleteTenant(const std::string& id) {
  guarded("delete tenant " + id, [&] {
    CachedStatement subscriptions(*db_, "SELECT count(*) FROM subscriptions WHERE tenant_id = ?");
    subscriptions.bind(1, id);
    subscriptions.executeStep();
    if (const int count = subscriptions.getColumn(0).getInt(); count > 0) {
      throw StoreError(Kind::kConflict, "tenant " + id + " still has " + std::to_string(count) +
                                            " subscription(s); unsubscribe first");
    }
    changeOne(*db_, "DELETE FROM tenants WHERE id = ?", id, "tenant");
  });
}

// ---- accounts and sessions ---------------------------------------------------------------------

void SqliteTransaction::insertAccount(const domain::Account& account) {
  guarded("create account \"" + account.name + "\"", [&] {
    CachedStatement insert(*db_, std::string("INSERT INTO accounts (") + kAccountColumns +
                                     ") VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
    insert.bind(1, account.id);
    insert.bind(2, account.name);
    insert.bind(3, std::string(domain::toString(account.role)));
    bindText(insert, 4, account.tenantId);
    insert.bind(5, account.passwordHash);
    insert.bind(6, static_cast<std::int64_t>(account.failedLogins));
    bindOptional(insert, 7, account.lockedUntilUnix);
    insert.bind(8, account.createdUnix);
    insert.exec();
  });
}

std::optional<domain::Account> SqliteTransaction::findAccount(const std::string& id) {
  return guarded("read account " + id, [&] { return selectAccount(*db_, "id = ?", id); });
}

std::optional<domain::Account> SqliteTransaction::findAccountByName(const std::string& name) {
  return guarded("read account \"" + name + "\"",
                 [&] { return selectAccount(*db_, "name = ?", name); });
}

std::optional<domain::Account> SqliteTransaction::findTenantAccount(const std::string& tenantId) {
  return guarded("read the account of tenant " + tenantId,
                 [&] { return selectAccount(*db_, "tenant_id = ?", tenantId); });
}

std::vector<domain::Account> SqliteTransaction::listProviderAccounts() {
  return guarded("list provider accounts", [&] {
    CachedStatement query(*db_, std::string("SELECT ") + kAccountColumns +
                                    " FROM accounts WHERE role = 'provider' ORDER BY name");
    std::vector<domain::Account> result;
    while (query.executeStep()) result.push_back(readAccount(query));
    return result;
  });
}

void SqliteTransaction::updateAccount(const domain::Account& account) {
  guarded("update account " + account.id, [&] {
    CachedStatement update(*db_, R"sql(
      UPDATE accounts SET password_hash = ?, failed_logins = ?, locked_until_unix = ? WHERE id = ?)sql");
    update.bind(1, account.passwordHash);
    update.bind(2, static_cast<std::int64_t>(account.failedLogins));
    bindOptional(update, 3, account.lockedUntilUnix);
    update.bind(4, account.id);
    if (update.exec() == 0)
      throw StoreError(Kind::kNotFound, "account " + account.id + " not found");
  });
}

void SqliteTransaction::deleteAccount(const std::string& id) {
  guarded("delete account " + id,
          [&] { changeOne(*db_, "DELETE FROM accounts WHERE id = ?", id, "account"); });
}

void SqliteTransaction::insertSession(const domain::Session& session) {
  guarded("create a session", [&] {
    CachedStatement insert(*db_, R"sql(
      INSERT INTO sessions (token_hash, account_id, created_unix, expires_unix) VALUES (?, ?, ?, ?))sql");
    insert.bind(1, session.tokenHash);
    insert.bind(2, session.accountId);
    insert.bind(3, session.createdUnix);
    insert.bind(4, session.expiresUnix);
    insert.exec();
  });
}

std::optional<domain::Session> SqliteTransaction::findSession(const std::string& tokenHash) {
  return guarded("read a session", [&]() -> std::optional<domain::Session> {
    CachedStatement query(*db_, R"sql(
      SELECT token_hash, account_id, created_unix, expires_unix FROM sessions WHERE token_hash = ?)sql");
    query.bind(1, tokenHash);
    if (!query.executeStep()) return std::nullopt;
    return domain::Session{query.getColumn(0).getString(), query.getColumn(1).getString(),
                           query.getColumn(2).getInt64(), query.getColumn(3).getInt64()};
  });
}

void SqliteTransaction::deleteSession(const std::string& tokenHash) {
  guarded("delete a session", [&] {
    CachedStatement remove(*db_, "DELETE FROM sessions WHERE token_hash = ?");
    remove.bind(1, tokenHash);
    remove.exec();
  });
}

std::size_t SqliteTransaction::deleteSessionsOf(const std::string& accountId) {
  return guarded("delete the sessions of account " + accountId, [&] {
    CachedStatement remove(*db_, "DELETE FROM sessions WHERE account_id = ?");
    remove.bind(1, accountId);
    return static_cast<std::size_t>(remove.exec());
  });
}

std::size_t SqliteTransaction::deleteExpiredSessions(std::int64_t nowUnix) {
  return guarded("delete expired sessions", [&] {
    CachedStatement remove(*db_, "DELETE FROM sessions WHERE expires_unix <= ?");
    remove.bind(1, nowUnix);
    return static_cast<std::size_t>(remove.exec());
  });
}

// ---- audit and settings ------------------------------------------------------------------------

void SqliteTransaction::appendAudit(const domain::AuditEntry& entry) {
  guarded("write the audit log", [&] {
    CachedStatement insert(*db_, R"sql(
      INSERT INTO audit_log (at_unix_ms, actor, actor_role, tenant_id, method, path, status, result, message)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?))sql");
    insert.bind(1, entry.atUnixMs);
    insert.bind(2, entry.actor);
    insert.bind(3, entry.actorRole);
    bindText(insert, 4, entry.tenantId);
    insert.bind(5, entry.method);
    insert.bind(6, entry.path);
    insert.bind(7, entry.status);
    insert.bind(8, entry.result);
    insert.bind(9, entry.message);
    insert.exec();
  });
}

std::vector<domain::AuditEntry> SqliteTransaction::queryAudit(const domain::AuditQuery& query) {
  return guarded("read the audit log", [&] {
    CachedStatement select(*db_, R"sql(
      SELECT id, at_unix_ms, actor, actor_role, tenant_id, method, path, status, result, message
      FROM audit_log
      WHERE (?1 IS NULL OR tenant_id = ?1) AND (?2 IS NULL OR actor = ?2 COLLATE NOCASE)
        AND (?3 IS NULL OR at_unix_ms >= ?3) AND (?4 = 0 OR id < ?4)
      ORDER BY id DESC LIMIT ?5)sql");
    bindText(select, 1, query.tenantId.value_or(""));
    bindText(select, 2, query.actor.value_or(""));
    bindOptional(select, 3, query.sinceUnixMs);
    select.bind(4, query.beforeId);
    select.bind(5, static_cast<std::int64_t>(query.limit));
    std::vector<domain::AuditEntry> result;
    while (select.executeStep()) {
      result.push_back({select.getColumn(0).getInt64(), select.getColumn(1).getInt64(),
                        select.getColumn(2).getString(), select.getColumn(3).getString(),
                        textOrEmpty(select.getColumn(4)), select.getColumn(5).getString(),
                        select.getColumn(6).getString(), select.getColumn(7).getInt(),
                        select.getColumn(8).getString(), select.getColumn(9).getString()});
    }
    return result;
  });
}

domain::Maintenance SqliteTransaction::maintenance() {
  return {setting("maintenance_enabled") == "1", setting("maintenance_message")};
}

void SqliteTransaction::setMaintenance(const domain::Maintenance& maintenance) {
  setSetting("maintenance_enabled", maintenance.enabled ? "1" : "0");
  setSetting("maintenance_message", maintenance.message);
}

}  // namespace warmsite::store::sqlite
