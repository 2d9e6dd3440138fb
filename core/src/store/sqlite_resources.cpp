// The SP's resources: cloud hosts, VLAN ranges, the public IP pool and hardware plans.
#include <sqlite3.h>

#include <array>
#include <cstring>

#include "domain/ip_address.h"
#include "store/sqlite_transaction.h"

namespace warmsite::store::sqlite {

using Kind = StoreError::Kind;

namespace {

constexpr const char* kCloudHostColumns = "id, name, plugin, config_json, created_unix";
constexpr const char* kSealedPrefix = "sealed:";  // marks an encrypted config

std::string cloudHostAad(const std::string& id) {
  return "cloud_host:" + id;
}

std::size_t countOf(SQLite::Database& db, const char* sql, const std::string& value) {
  CachedStatement query(db, sql);
  query.bind(1, value);
  query.executeStep();
  return static_cast<std::size_t>(query.getColumn(0).getInt64());
}

domain::VlanRange readVlanRange(SQLite::Statement& row) {
  return {row.getColumn(0).getString(), row.getColumn(1).getString(),
          static_cast<std::uint32_t>(row.getColumn(2).getInt()),
          static_cast<std::uint32_t>(row.getColumn(3).getInt()), row.getColumn(4).getInt() != 0};
}

constexpr const char* kPlanColumns =
    "id, name, description, cloud_host_id, cpu_mhz, memory_mb, networks_with_internet, "
    "networks_without_internet, created_unix, updated_unix";

std::vector<domain::HardwarePlan> selectPlans(SQLite::Database& db, const std::string& where,
                                              const std::string& value) {
  CachedStatement query(
      db, std::string("SELECT ") + kPlanColumns + " FROM plans " + where + " ORDER BY name");
  if (!value.empty()) query.bind(1, value);
  std::vector<domain::HardwarePlan> plans;
  while (query.executeStep()) {
    domain::HardwarePlan plan;
    plan.id = query.getColumn(0).getString();
    plan.name = query.getColumn(1).getString();
    plan.description = query.getColumn(2).getString();
    plan.cloudHostId = query.getColumn(3).getString();
    plan.cpuMhz = optionalUint64(query.getColumn(4));
    plan.memoryMb = optionalUint64(query.getColumn(5));
    plan.networksWithInternet = static_cast<std::uint32_t>(query.getColumn(6).getInt());
    plan.networksWithoutInternet = static_cast<std::uint32_t>(query.getColumn(7).getInt());
    plan.createdUnix = query.getColumn(8).getInt64();
    plan.updatedUnix = query.getColumn(9).getInt64();
    plans.push_back(std::move(plan));
  }
  CachedStatement storages(db, R"sql(
    SELECT name, backend_storage, quota_gb FROM plan_storages WHERE plan_id = ? ORDER BY position)sql");
  for (auto& plan : plans) {
    storages.bind(1, plan.id);
    while (storages.executeStep()) {
      plan.storages.push_back({storages.getColumn(0).getString(), storages.getColumn(1).getString(),
                               static_cast<std::uint64_t>(storages.getColumn(2).getInt64())});
    }
    storages.reset();
  }
  return plans;
}

}  // namespace

// ---- cloud hosts -------------------------------------------------------------------------------

std::string SqliteTransaction::sealConfig(const domain::CloudHost& host) const {
  const auto& cipher = pool_.options().cipher;
  if (!cipher) return host.configJson;
  return kSealedPrefix + cipher->seal(host.configJson, cloudHostAad(host.id));
}

domain::CloudHost SqliteTransaction::readCloudHost(SQLite::Statement& row) const {
  domain::CloudHost host{row.getColumn(0).getString(), row.getColumn(1).getString(),
                         row.getColumn(2).getString(), row.getColumn(3).getString(),
                         row.getColumn(4).getInt64()};
  if (host.configJson.starts_with(kSealedPrefix)) {
    const auto& cipher = pool_.options().cipher;
    if (!cipher) {
      throw StoreError(Kind::kIo,
                       "cloud host " + host.name + ": config is encrypted and no key is loaded");
    }
    try {
      host.configJson =
          cipher->open(std::string_view(host.configJson).substr(std::strlen(kSealedPrefix)),
                       cloudHostAad(host.id));
    } catch (const std::exception& e) {
      throw StoreError(Kind::kCorrupt, "cloud host " + host.name +
                                           ": config cannot be decrypted (" + e.what() +
                                           "); is this the key file it was written with?");
    }
  }
  return host;
}

void SqliteTransaction::insertCloudHost(const domain::CloudHost& host) {
  guarded("register cloud host \"" + host.name + "\"", [&] {
    CachedStatement insert(*db_, std::string("INSERT INTO cloud_hosts (") + kCloudHostColumns +
                                     ") VALUES (?, ?, ?, ?, ?)");
    insert.bind(1, host.id);
    insert.bind(2, host.name);
    insert.bind(3, host.plugin);
    insert.bind(4, sealConfig(host));
    insert.bind(5, host.createdUnix);
    insert.exec();
  });
}

std::optional<domain::CloudHost> SqliteTransaction::findCloudHost(const std::string& id) {
  return guarded("read cloud host " + id, [&]() -> std::optional<domain::CloudHost> {
    CachedStatement query(
        *db_, std::string("SELECT ") + kCloudHostColumns + " FROM cloud_hosts WHERE id = ?");
    query.bind(1, id);
    if (!query.executeStep()) return std::nullopt;
    return readCloudHost(query);
  });
}

std::vector<domain::CloudHost> SqliteTransaction::listCloudHosts() {
  return guarded("list cloud hosts", [&] {
    CachedStatement query(
        *db_, std::string("SELECT ") + kCloudHostColumns + " FROM cloud_hosts ORDER BY name");
    std::vector<domain::CloudHost> result;
    while (query.executeStep()) result.push_back(readCloudHost(query));
    return result;
  });
}

void SqliteTransaction::updateCloudHost(const domain::CloudHost& host) {
  guarded("update cloud host " + host.id, [&] {
    CachedStatement update(*db_, "UPDATE cloud_hosts SET name = ?, config_json = ? WHERE id = ?");
    update.bind(1, host.name);
    update.bind(2, sealConfig(host));
    update.bind(3, host.id);
    if (update.exec() == 0)
      throw StoreError(Kind::kNotFound, "cloud host " + host.id + " not found");
  });
}

void SqliteTransaction::deleteCloudHost(const std::string& id) {
  guarded("delete cloud host " + id, [&] {
    if (const auto plans =
            countOf(*db_, "SELECT count(*) FROM plans WHERE cloud_host_id = ?", id)) {
      throw StoreError(Kind::kConflict, "cloud host " + id + " is used by " +
                                            std::to_string(plans) +
                                            " hardware plan(s); delete them first");
    }
    if (const auto allocated = countOf(
            *db_, "SELECT count(*) FROM vlans WHERE cloud_host_id = ? AND tenant_id IS NOT NULL",
            id)) {
      throw StoreError(Kind::kConflict, "cloud host " + id + " still has " +
                                            std::to_string(allocated) +
                                            " VLANs allocated to tenants");
    }
    for (const char* sql : {"DELETE FROM vlans WHERE cloud_host_id = ?",
                            "DELETE FROM vlan_ranges WHERE cloud_host_id = ?"}) {
      CachedStatement remove(*db_, sql);
      remove.bind(1, id);
      remove.exec();
    }
    CachedStatement remove(*db_, "DELETE FROM cloud_hosts WHERE id = ?");
    remove.bind(1, id);
    if (remove.exec() == 0) throw StoreError(Kind::kNotFound, "cloud host " + id + " not found");
  });
}

// ---- VLAN ranges -------------------------------------------------------------------------------

void SqliteTransaction::fillVlans(const domain::VlanRange& range) {
  CachedStatement overlap(*db_, R"sql(
    SELECT first_vlan, last_vlan FROM vlan_ranges
    WHERE cloud_host_id = ? AND id != ? AND first_vlan <= ? AND last_vlan >= ? LIMIT 1)sql");
  overlap.bind(1, range.cloudHostId);
  overlap.bind(2, range.id);
  overlap.bind(3, static_cast<std::int64_t>(range.last));
  overlap.bind(4, static_cast<std::int64_t>(range.first));
  if (overlap.executeStep()) {
    throw StoreError(Kind::kConflict, "VLAN range " + std::to_string(range.first) + "-" +
                                          std::to_string(range.last) + " overlaps range " +
                                          overlap.getColumn(0).getString() + "-" +
                                          overlap.getColumn(1).getString() + " of cloud host " +
                                          range.cloudHostId);
  }
  // A VLAN still allocated from an earlier range keeps its tenant; it joins this range.
  CachedStatement fill(*db_, R"sql(
    WITH RECURSIVE seq(v) AS (SELECT ?1 UNION ALL SELECT v + 1 FROM seq WHERE v < ?2)
    INSERT INTO vlans (cloud_host_id, vlan_id, range_id, internet)
    SELECT ?3, v, ?4, ?5 FROM seq WHERE true
    ON CONFLICT (cloud_host_id, vlan_id) DO UPDATE SET range_id = excluded.range_id,
      internet = CASE WHEN tenant_id IS NULL THEN excluded.internet ELSE internet END)sql");
  fill.bind(1, static_cast<std::int64_t>(range.first));
  fill.bind(2, static_cast<std::int64_t>(range.last));
  fill.bind(3, range.cloudHostId);
  fill.bind(4, range.id);
  fill.bind(5, range.internet ? 1 : 0);
  fill.exec();
}

void SqliteTransaction::insertVlanRange(const domain::VlanRange& range) {
  guarded("add VLAN range " + std::to_string(range.first) + "-" + std::to_string(range.last), [&] {
    CachedStatement insert(*db_, R"sql(
      INSERT INTO vlan_ranges (id, cloud_host_id, first_vlan, last_vlan, internet) VALUES (?, ?, ?, ?, ?))sql");
    insert.bind(1, range.id);
    insert.bind(2, range.cloudHostId);
    insert.bind(3, static_cast<std::int64_t>(range.first));
    insert.bind(4, static_cast<std::int64_t>(range.last));
    insert.bind(5, range.internet ? 1 : 0);
    insert.exec();
    fillVlans(range);
  });
}

std::optional<domain::VlanRange> SqliteTransaction::findVlanRange(const std::string& id) {
  return guarded("read VLAN range " + id, [&]() -> std::optional<domain::VlanRange> {
    CachedStatement query(*db_, R"sql(
      SELECT id, cloud_host_id, first_vlan, last_vlan, internet FROM vlan_ranges WHERE id = ?)sql");
    query.bind(1, id);
    if (!query.executeStep()) return std::nullopt;
    return readVlanRange(query);
  });
}

std::vector<domain::VlanRange> SqliteTransaction::listVlanRanges(const std::string& cloudHostId) {
  return guarded("list VLAN ranges of cloud host " + cloudHostId, [&] {
    CachedStatement query(*db_, R"sql(
      SELECT id, cloud_host_id, first_vlan, last_vlan, internet FROM vlan_ranges
      WHERE cloud_host_id = ? ORDER BY first_vlan)sql");
    query.bind(1, cloudHostId);
    std::vector<domain::VlanRange> result;
    while (query.executeStep()) result.push_back(readVlanRange(query));
    return result;
  });
}

void SqliteTransaction::updateVlanRange(const domain::VlanRange& range) {
  guarded("edit VLAN range " + range.id, [&] {
    CachedStatement update(*db_, R"sql(
      UPDATE vlan_ranges SET first_vlan = ?, last_vlan = ?, internet = ? WHERE id = ? AND cloud_host_id = ?)sql");
    update.bind(1, static_cast<std::int64_t>(range.first));
    update.bind(2, static_cast<std::int64_t>(range.last));
    update.bind(3, range.internet ? 1 : 0);
    update.bind(4, range.id);
    update.bind(5, range.cloudHostId);
    if (update.exec() == 0)
      throw StoreError(Kind::kNotFound, "VLAN range " + range.id + " not found");
    // Free VLANs outside the new bounds leave the pool; allocated ones stay with their tenants.
    CachedStatement drop(*db_, R"sql(
      DELETE FROM vlans WHERE range_id = ? AND tenant_id IS NULL AND (vlan_id < ? OR vlan_id > ?))sql");
    drop.bind(1, range.id);
    drop.bind(2, static_cast<std::int64_t>(range.first));
    drop.bind(3, static_cast<std::int64_t>(range.last));
    drop.exec();
    CachedStatement detach(*db_, R"sql(
      UPDATE vlans SET range_id = NULL WHERE range_id = ? AND (vlan_id < ? OR vlan_id > ?))sql");
    detach.bind(1, range.id);
    detach.bind(2, static_cast<std::int64_t>(range.first));
    detach.bind(3, static_cast<std::int64_t>(range.last));
    detach.exec();
    fillVlans(range);
  });
}

void SqliteTransaction::deleteVlanRange(const std::string& id) {
  guarded("delete VLAN range " + id, [&] {
    CachedStatement drop(*db_, "DELETE FROM vlans WHERE range_id = ? AND tenant_id IS NULL");
    drop.bind(1, id);
    drop.exec();
    // Allocated VLANs lose their range (ON DELETE SET NULL) but keep their tenant.
    CachedStatement remove(*db_, "DELETE FROM vlan_ranges WHERE id = ?");
    remove.bind(1, id);
    if (remove.exec() == 0) throw StoreError(Kind::kNotFound, "VLAN range " + id + " not found");
  });
}

std::size_t SqliteTransaction::freeVlanCount(const std::string& cloudHostId, bool internet) {
  return guarded("count free VLANs", [&] {
    CachedStatement query(*db_, R"sql(
      SELECT count(*) FROM vlans WHERE cloud_host_id = ? AND internet = ? AND tenant_id IS NULL
        AND range_id IS NOT NULL)sql");
    query.bind(1, cloudHostId);
    query.bind(2, internet ? 1 : 0);
    query.executeStep();
    return static_cast<std::size_t>(query.getColumn(0).getInt64());
  });
}

// ---- public IP pool ----------------------------------------------------------------------------

void SqliteTransaction::insertPublicIps(const std::vector<domain::PublicIp>& addresses) {
  guarded("add public IPs", [&] {
    CachedStatement insert(*db_,
                           "INSERT INTO public_ips (address, family, sort_key) VALUES (?, ?, ?)");
    for (const auto& ip : addresses) {
      const auto parsed = domain::parseIpAddress(ip.address);
      const auto* address = std::get_if<domain::IpAddress>(&parsed);
      if (address == nullptr)
        throw StoreError(Kind::kConflict, std::get<domain::ParseError>(parsed).message);
      // Family first, so IPv4 sorts before IPv6 and lowest-first stays within a family.
      std::array<std::uint8_t, 17> key{};
      key[0] = static_cast<std::uint8_t>(address->family);
      std::copy(address->bytes.begin(), address->bytes.end(), key.begin() + 1);
      insert.bind(1, address->toString());
      insert.bind(2, address->family);
      insert.bind(3, key.data(), static_cast<int>(key.size()));
      try {
        insert.exec();
      } catch (const SQLite::Exception& e) {
        if ((e.getErrorCode() & 0xff) == SQLITE_CONSTRAINT) {
          throw StoreError(Kind::kConflict,
                           "public IP " + address->toString() + " is already in the pool");
        }
        throw;
      }
      insert.reset();
    }
  });
}

std::vector<domain::PublicIp> SqliteTransaction::listPublicIps() {
  return guarded("list public IPs", [&] {
    CachedStatement query(*db_, R"sql(
      SELECT address, family, tenant_id, subscription_id FROM public_ips ORDER BY sort_key)sql");
    std::vector<domain::PublicIp> result;
    while (query.executeStep()) {
      result.push_back({query.getColumn(0).getString(), query.getColumn(1).getInt(),
                        textOrEmpty(query.getColumn(2)), textOrEmpty(query.getColumn(3))});
    }
    return result;
  });
}

void SqliteTransaction::deletePublicIp(const std::string& address) {
  guarded("remove public IP " + address, [&] {
    CachedStatement query(*db_, "SELECT tenant_id FROM public_ips WHERE address = ?");
    query.bind(1, address);
    if (!query.executeStep())
      throw StoreError(Kind::kNotFound, "public IP " + address + " is not in the pool");
    if (!query.getColumn(0).isNull()) {
      throw StoreError(Kind::kConflict, "public IP " + address + " is allocated to tenant " +
                                            query.getColumn(0).getString());
    }
    CachedStatement remove(*db_, "DELETE FROM public_ips WHERE address = ?");
    remove.bind(1, address);
    remove.exec();
  });
}

std::size_t SqliteTransaction::freePublicIpCount() {
  return guarded("count free public IPs", [&] {
    return static_cast<std::size_t>(
        db_->execAndGet("SELECT count(*) FROM public_ips WHERE tenant_id IS NULL").getInt64());
  });
}

// ---- hardware plans ----------------------------------------------------------------------------

void SqliteTransaction::writePlanStorages(const domain::HardwarePlan& plan) {
  CachedStatement clear(*db_, "DELETE FROM plan_storages WHERE plan_id = ?");
  clear.bind(1, plan.id);
  clear.exec();
  CachedStatement insert(*db_, R"sql(
    INSERT INTO plan_storages (plan_id, position, name, backend_storage, quota_gb) VALUES (?, ?, ?, ?, ?))sql");
  int position = 0;
  for (const auto& storage : plan.storages) {
    insert.bind(1, plan.id);
    insert.bind(2, position++);
    insert.bind(3, storage.name);
    insert.bind(4, storage.backendStorage);
    insert.bind(5, static_cast<std::int64_t>(storage.quotaGb));
    insert.exec();
    insert.reset();
  }
}

void SqliteTransaction::insertPlan(const domain::HardwarePlan& plan) {
  guarded("create hardware plan \"" + plan.name + "\"", [&] {
    CachedStatement insert(*db_, std::string("INSERT INTO plans (") + kPlanColumns +
                                     ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    insert.bind(1, plan.id);
    insert.bind(2, plan.name);
    insert.bind(3, plan.description);
    insert.bind(4, plan.cloudHostId);
    bindOptional(insert, 5, plan.cpuMhz);
    bindOptional(insert, 6, plan.memoryMb);
    insert.bind(7, static_cast<std::int64_t>(plan.networksWithInternet));
    insert.bind(8, static_cast<std::int64_t>(plan.networksWithoutInternet));
    insert.bind(9, plan.createdUnix);
    insert.bind(10, plan.updatedUnix);
    insert.exec();
    writePlanStorages(plan);
  });
}

std::optional<domain::HardwarePlan> SqliteTransaction::findPlan(const std::string& id) {
  return guarded("read hardware plan " + id, [&]() -> std::optional<domain::HardwarePlan> {
    auto plans = selectPlans(*db_, "WHERE id = ?", id);
    if (plans.empty()) return std::nullopt;
    return std::move(plans.front());
  });
}

std::vector<domain::HardwarePlan> SqliteTransaction::listPlans() {
  return guarded("list hardware plans", [&] { return selectPlans(*db_, "", ""); });
}

void SqliteTransaction::updatePlan(const domain::HardwarePlan& plan) {
  guarded("update hardware plan " + plan.id, [&] {
    CachedStatement update(*db_, R"sql(
      UPDATE plans SET name = ?, description = ?, cpu_mhz = ?, memory_mb = ?, networks_with_internet = ?,
                       networks_without_internet = ?, updated_unix = ?
      WHERE id = ?)sql");
    update.bind(1, plan.name);
    update.bind(2, plan.description);
    bindOptional(update, 3, plan.cpuMhz);
    bindOptional(update, 4, plan.memoryMb);
    update.bind(5, static_cast<std::int64_t>(plan.networksWithInternet));
    update.bind(6, static_cast<std::int64_t>(plan.networksWithoutInternet));
    update.bind(7, plan.updatedUnix);
    update.bind(8, plan.id);
    if (update.exec() == 0)
      throw StoreError(Kind::kNotFound, "hardware plan " + plan.id + " not found");
    writePlanStorages(plan);
  });
}

void SqliteTransaction::deletePlan(const std::string& id) {
  guarded("delete hardware plan " + id, [&] {
    if (const auto subscribers =
            countOf(*db_, "SELECT count(*) FROM subscriptions WHERE plan_id = ?", id)) {
      throw StoreError(Kind::kConflict, "hardware plan " + id + " has " +
                                            std::to_string(subscribers) +
                                            " subscriber(s); unsubscribe them first");
    }
    CachedStatement remove(*db_, "DELETE FROM plans WHERE id = ?");
    remove.bind(1, id);
    if (remove.exec() == 0) throw StoreError(Kind::kNotFound, "hardware plan " + id + " not found");
  });
}

}  // namespace warmsite::store::sqlite
