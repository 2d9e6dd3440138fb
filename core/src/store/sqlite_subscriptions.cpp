// Subscriptions and everything a tenant holds through them: VLANs, public IPs, tasks.
#include "store/sqlite_transaction.h"

namespace warmsite::store::sqlite {

using Kind = StoreError::Kind;

std::vector<domain::Subscription> selectSubscriptions(SQLite::Database& db,
                                                      const std::string& where,
                                                      const std::vector<std::string>& values) {
  CachedStatement query(db, R"sql(
    SELECT id, tenant_id, plan_id, cloud_host_id, state, error, public_ip_count, created_unix
    FROM subscriptions )sql" + where +
                                " ORDER BY created_unix, id");
  bindAll(query, values);
  std::vector<domain::Subscription> result;
  while (query.executeStep()) {
    domain::Subscription subscription;
    subscription.id = query.getColumn(0).getString();
    subscription.tenantId = query.getColumn(1).getString();
    subscription.planId = query.getColumn(2).getString();
    subscription.cloudHostId = query.getColumn(3).getString();
    subscription.state = domain::subscriptionStateFrom(query.getColumn(4).getString())
                             .value_or(domain::SubscriptionState::kFailed);
    subscription.error = query.getColumn(5).getString();
    subscription.publicIpCount = static_cast<std::uint32_t>(query.getColumn(6).getInt());
    subscription.createdUnix = query.getColumn(7).getInt64();
    result.push_back(std::move(subscription));
  }
  CachedStatement networks(db, R"sql(
    SELECT network_id, name, vlan_id, internet FROM subscription_networks
    WHERE subscription_id = ? ORDER BY position)sql");
  CachedStatement ips(db,
                      "SELECT address FROM public_ips WHERE subscription_id = ? ORDER BY sort_key");
  for (auto& subscription : result) {
    networks.bind(1, subscription.id);
    while (networks.executeStep()) {
      subscription.networks.push_back({networks.getColumn(0).getString(),
                                       networks.getColumn(1).getString(),
                                       static_cast<std::uint32_t>(networks.getColumn(2).getInt()),
                                       networks.getColumn(3).getInt() != 0});
    }
    networks.reset();
    ips.bind(1, subscription.id);
    while (ips.executeStep()) subscription.publicIps.push_back(ips.getColumn(0).getString());
    ips.reset();
  }
  return result;
}

// ---- provider scope ----------------------------------------------------------------------------

std::optional<domain::Subscription> SqliteTransaction::findAnySubscription(const std::string& id) {
  return guarded("read subscription " + id, [&]() -> std::optional<domain::Subscription> {
    auto found = selectSubscriptions(*db_, "WHERE id = ?", {id});
    if (found.empty()) return std::nullopt;
    return std::move(found.front());
  });
}

std::vector<domain::Subscription> SqliteTransaction::listSubscriptions() {
  return guarded("list subscriptions", [&] { return selectSubscriptions(*db_, "", {}); });
}

std::vector<domain::Subscription> SqliteTransaction::planSubscriptions(const std::string& planId) {
  return guarded("list subscribers of plan " + planId,
                 [&] { return selectSubscriptions(*db_, "WHERE plan_id = ?", {planId}); });
}

// ---- tenant scope ------------------------------------------------------------------------------

std::optional<std::uint32_t> SqliteTenantScope::allocateVlan(const std::string& cloudHostId,
                                                             bool internet,
                                                             const std::string& networkId) {
  return guarded("allocate a VLAN on cloud host " + cloudHostId,
                 [&]() -> std::optional<std::uint32_t> {
                   CachedStatement update(db_, R"sql(
      UPDATE vlans SET tenant_id = ?1, network_id = ?2
      WHERE cloud_host_id = ?3 AND vlan_id = (
        SELECT vlan_id FROM vlans
        WHERE cloud_host_id = ?3 AND internet = ?4 AND tenant_id IS NULL AND range_id IS NOT NULL
        ORDER BY vlan_id LIMIT 1)
      RETURNING vlan_id)sql");
                   update.bind(1, tenantId());
                   update.bind(2, networkId);
                   update.bind(3, cloudHostId);
                   update.bind(4, internet ? 1 : 0);
                   if (!update.executeStep()) return std::nullopt;
                   return static_cast<std::uint32_t>(update.getColumn(0).getInt());
                 });
}

std::vector<domain::VlanAllocation> SqliteTenantScope::vlans() {
  return guarded("list VLANs of tenant " + tenantId(), [&] {
    CachedStatement query(db_, R"sql(
      SELECT cloud_host_id, vlan_id, internet, tenant_id, network_id FROM vlans
      WHERE tenant_id = ? ORDER BY cloud_host_id, vlan_id)sql");
    query.bind(1, tenantId());
    std::vector<domain::VlanAllocation> result;
    while (query.executeStep()) {
      result.push_back({query.getColumn(0).getString(),
                        static_cast<std::uint32_t>(query.getColumn(1).getInt()),
                        query.getColumn(2).getInt() != 0, query.getColumn(3).getString(),
                        textOrEmpty(query.getColumn(4))});
    }
    return result;
  });
}

std::size_t SqliteTenantScope::releaseVlans(const std::string& cloudHostId) {
  return guarded("release VLANs of tenant " + tenantId(), [&] {
    CachedStatement update(db_, R"sql(
      UPDATE vlans SET tenant_id = NULL, network_id = NULL WHERE tenant_id = ? AND cloud_host_id = ?)sql");
    update.bind(1, tenantId());
    update.bind(2, cloudHostId);
    return static_cast<std::size_t>(update.exec());
  });
}

std::vector<std::string> SqliteTenantScope::allocatePublicIps(std::uint32_t count,
                                                              const std::string& subscriptionId) {
  return guarded("allocate public IPs to tenant " + tenantId(), [&] {
    std::vector<std::string> taken;
    if (count == 0) return taken;
    CachedStatement update(db_, R"sql(
      UPDATE public_ips SET tenant_id = ?1, subscription_id = ?2
      WHERE address IN (SELECT address FROM public_ips WHERE tenant_id IS NULL ORDER BY sort_key LIMIT ?3)
        AND (SELECT count(*) FROM public_ips WHERE tenant_id IS NULL) >= ?3
      RETURNING address)sql");
    update.bind(1, tenantId());
    update.bind(2, subscriptionId);
    update.bind(3, static_cast<std::int64_t>(count));
    while (update.executeStep()) taken.push_back(update.getColumn(0).getString());
    return taken;
  });
}

std::vector<domain::PublicIp> SqliteTenantScope::publicIps() {
  return guarded("list public IPs of tenant " + tenantId(), [&] {
    CachedStatement query(db_, R"sql(
      SELECT address, family, tenant_id, subscription_id FROM public_ips WHERE tenant_id = ? ORDER BY sort_key)sql");
    query.bind(1, tenantId());
    std::vector<domain::PublicIp> result;
    while (query.executeStep()) {
      result.push_back({query.getColumn(0).getString(), query.getColumn(1).getInt(),
                        query.getColumn(2).getString(), query.getColumn(3).getString()});
    }
    return result;
  });
}

void SqliteTenantScope::insertSubscription(const domain::Subscription& subscription) {
  guarded("subscribe tenant " + tenantId() + " to plan " + subscription.planId, [&] {
    CachedStatement insert(db_, R"sql(
      INSERT INTO subscriptions (id, tenant_id, plan_id, cloud_host_id, state, error, public_ip_count, created_unix)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?))sql");
    insert.bind(1, subscription.id);
    insert.bind(2, tenantId());
    insert.bind(3, subscription.planId);
    insert.bind(4, subscription.cloudHostId);
    insert.bind(5, std::string(domain::toString(subscription.state)));
    insert.bind(6, subscription.error);
    insert.bind(7, static_cast<std::int64_t>(subscription.publicIpCount));
    insert.bind(8, subscription.createdUnix);
    insert.exec();
    for (const auto& network : subscription.networks)
      addSubscriptionNetwork(subscription.id, network);
  });
}

void SqliteTenantScope::addSubscriptionNetwork(const std::string& subscriptionId,
                                               const domain::SubscriptionNetwork& network) {
  guarded("add network " + network.networkId + " to subscription " + subscriptionId, [&] {
    CachedStatement insert(db_, R"sql(
      INSERT INTO subscription_networks (network_id, subscription_id, tenant_id, position, name, vlan_id, internet)
      SELECT ?1, id, tenant_id,
             (SELECT count(*) FROM subscription_networks WHERE subscription_id = ?2), ?3, ?4, ?5
      FROM subscriptions WHERE id = ?2 AND tenant_id = ?6)sql");
    insert.bind(1, network.networkId);
    insert.bind(2, subscriptionId);
    insert.bind(3, network.name);
    insert.bind(4, static_cast<std::int64_t>(network.vlanId));
    insert.bind(5, network.internet ? 1 : 0);
    insert.bind(6, tenantId());
    if (insert.exec() == 0)
      throw StoreError(Kind::kNotFound, "subscription " + subscriptionId + " not found");
  });
}

std::optional<domain::Subscription> SqliteTenantScope::findSubscription(const std::string& id) {
  return guarded("read subscription " + id, [&]() -> std::optional<domain::Subscription> {
    auto found = selectSubscriptions(db_, "WHERE id = ? AND tenant_id = ?", {id, tenantId()});
    if (found.empty()) return std::nullopt;
    return std::move(found.front());
  });
}

std::vector<domain::Subscription> SqliteTenantScope::subscriptions() {
  return guarded("list subscriptions of tenant " + tenantId(),
                 [&] { return selectSubscriptions(db_, "WHERE tenant_id = ?", {tenantId()}); });
}

void SqliteTenantScope::setSubscriptionState(const std::string& id, domain::SubscriptionState state,
                                             const std::string& error) {
  guarded("update subscription " + id, [&] {
    CachedStatement update(
        db_, "UPDATE subscriptions SET state = ?, error = ? WHERE id = ? AND tenant_id = ?");
    update.bind(1, std::string(domain::toString(state)));
    update.bind(2, error);
    update.bind(3, id);
    update.bind(4, tenantId());
    if (update.exec() == 0) throw StoreError(Kind::kNotFound, "subscription " + id + " not found");
  });
}

void SqliteTenantScope::deleteSubscription(const std::string& id) {
  guarded("delete subscription " + id, [&] {
    CachedStatement owner(db_, "SELECT 1 FROM subscriptions WHERE id = ? AND tenant_id = ?");
    owner.bind(1, id);
    owner.bind(2, tenantId());
    if (!owner.executeStep())
      throw StoreError(Kind::kNotFound, "subscription " + id + " not found");
    for (const char* sql :
         {"UPDATE vlans SET tenant_id = NULL, network_id = NULL WHERE network_id IN "
          "(SELECT network_id FROM subscription_networks WHERE subscription_id = ?1) AND tenant_id "
          "= ?2",
          "UPDATE public_ips SET tenant_id = NULL, subscription_id = NULL "
          "WHERE subscription_id = ?1 AND tenant_id = ?2",
          "DELETE FROM subscriptions WHERE id = ?1 AND tenant_id = ?2"}) {
      CachedStatement statement(db_, sql);
      statement.bind(1, id);
      statement.bind(2, tenantId());
      statement.exec();
    }
  });
}

std::size_t SqliteTenantScope::replicaCount(const std::string& subscriptionId) {
  return guarded("count replicas of subscription " + subscriptionId, [&] {
    CachedStatement query(
        db_, "SELECT count(*) FROM replicas WHERE subscription_id = ? AND tenant_id = ?");
    query.bind(1, subscriptionId);
    query.bind(2, tenantId());
    query.executeStep();
    return static_cast<std::size_t>(query.getColumn(0).getInt64());
  });
}

std::optional<domain::Task> SqliteTenantScope::findTask(const std::string& id) {
  return guarded("read task " + id, [&]() -> std::optional<domain::Task> {
    auto found = selectTasks(db_, "WHERE id = ? AND tenant_id = ?", {id, tenantId()}, 1);
    if (found.empty()) return std::nullopt;
    return std::move(found.front());
  });
}

std::size_t SqliteTenantScope::countTasks(domain::TaskState state) {
  return guarded("count tasks of tenant " + tenantId(), [&] {
    CachedStatement query(db_, "SELECT COUNT(*) FROM tasks WHERE tenant_id = ? AND state = ?");
    query.bind(1, tenantId());
    query.bind(2, std::string(domain::toString(state)));
    query.executeStep();
    return static_cast<std::size_t>(query.getColumn(0).getInt64());
  });
}

std::vector<domain::Task> SqliteTenantScope::tasks(std::uint32_t limit) {
  return guarded("list tasks of tenant " + tenantId(),
                 [&] { return selectTasks(db_, "WHERE tenant_id = ?", {tenantId()}, limit); });
}

}  // namespace warmsite::store::sqlite
