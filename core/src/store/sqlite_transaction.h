#pragma once
// The SQLite transaction and tenant scope. Their methods are defined by concern in
// sqlite_accounts.cpp, sqlite_resources.cpp, sqlite_subscriptions.cpp, sqlite_replicas.cpp,
// sqlite_replication.cpp and sqlite_tasks.cpp.

#include "store/sqlite_connection.h"

namespace warmsite::store::sqlite {

class SqliteTenantScope final : public TenantScope {
 public:
  SqliteTenantScope(SQLite::Database& db, std::string tenantId)
      : TenantScope(std::move(tenantId)), db_(db) {}

  std::optional<std::uint32_t> allocateVlan(const std::string& cloudHostId, bool internet,
                                            const std::string& networkId) override;
  std::vector<domain::VlanAllocation> vlans() override;
  std::size_t releaseVlans(const std::string& cloudHostId) override;
  std::vector<std::string> allocatePublicIps(std::uint32_t count,
                                             const std::string& subscriptionId) override;
  std::vector<domain::PublicIp> publicIps() override;
  void insertSubscription(const domain::Subscription& subscription) override;
  std::optional<domain::Subscription> findSubscription(const std::string& id) override;
  std::vector<domain::Subscription> subscriptions() override;
  void setSubscriptionState(const std::string& id, domain::SubscriptionState state,
                            const std::string& error) override;
  void addSubscriptionNetwork(const std::string& subscriptionId,
                              const domain::SubscriptionNetwork& network) override;
  void deleteSubscription(const std::string& id) override;
  std::size_t replicaCount(const std::string& subscriptionId) override;
  std::optional<domain::Task> findTask(const std::string& id) override;
  std::size_t countTasks(domain::TaskState state) override;
  std::vector<domain::Task> tasks(std::uint32_t limit) override;
  void setNetworkSubnet(const std::string& networkId, const std::string& cidr) override;
  std::map<std::string, std::string> networkSubnets() override;

  void insertReplica(const domain::Replica& replica) override;
  std::optional<domain::Replica> findReplica(const std::string& id) override;
  std::vector<domain::Replica> replicas(const std::string& subscriptionId) override;
  std::vector<domain::Replica> replicasWithoutDevices() override;
  void updateReplica(const domain::Replica& replica) override;
  bool setReplicaState(const std::string& replicaId, domain::ReplicaState state,
                       const std::string& error) override;
  void deleteReplica(const std::string& id) override;
  void insertRestorePoint(const domain::RestorePoint& point) override;
  std::vector<domain::RestorePoint> restorePoints(const std::string& replicaId) override;
  std::map<std::string, std::string> newestRestorePoints(
      const std::optional<std::string>& replicaId, std::optional<std::int64_t> atOrBefore) override;
  void deleteRestorePoint(const std::string& replicaId, const std::string& pointId) override;
  void insertReplicationJob(const domain::ReplicationJob& job) override;
  std::optional<domain::ReplicationJob> findReplicationJob(const std::string& id) override;
  std::vector<domain::ReplicationJob> replicationJobs() override;
  void deleteReplicationJob(const std::string& id) override;
  void insertReplicationRun(const domain::ReplicationRun& run) override;
  void updateReplicationRun(const domain::ReplicationRun& run) override;
  std::optional<domain::ReplicationRun> findReplicationRun(const std::string& id) override;
  std::vector<domain::ReplicationRun> replicationRuns(const std::string& replicaId,
                                                      std::uint32_t limit) override;

  void insertFailoverPlan(const domain::FailoverPlan& plan) override;
  std::optional<domain::FailoverPlan> findFailoverPlan(const std::string& id) override;
  std::vector<domain::FailoverPlan> failoverPlans() override;
  void updateFailoverPlan(const domain::FailoverPlan& plan) override;
  void setFailoverPlanState(const std::string& planId, domain::FailoverPlanState state,
                            const std::string& lastSessionId) override;
  void deleteFailoverPlan(const std::string& id) override;
  void insertSession(const domain::FailoverSession& session) override;
  std::optional<domain::FailoverSession> findSession(const std::string& id) override;
  std::vector<domain::FailoverSession> sessions(const std::string& planId,
                                                std::uint32_t limit) override;
  std::vector<domain::FailoverSession> sessionsInProgress() override;
  std::map<std::string, std::string> pointsOfLastFailovers(
      const std::vector<std::string>& replicaIds) override;
  void updateSession(const domain::FailoverSession& session) override;
  void updateSessionVms(const std::string& sessionId,
                        std::span<const domain::SessionVm> vms) override;

 private:
  void writePlanMembers(const domain::FailoverPlan& plan);

  SQLite::Database& db_;
};

class SqliteTransaction final : public Transaction {
 public:
  SqliteTransaction(ConnectionPool& pool, bool write);
  ~SqliteTransaction() override;
  void commit() override;
  std::exception_ptr isolated(const std::function<void()>& part) override;

  std::unique_ptr<TenantScope> tenant(const std::string& tenantId) override;

  void insertTenant(const domain::Tenant& tenant) override;
  std::optional<domain::Tenant> findTenant(const std::string& id) override;
  std::vector<domain::Tenant> listTenants() override;
  void updateTenant(const domain::Tenant& tenant) override;
  void deleteTenant(const std::string& id) override;

  void insertAccount(const domain::Account& account) override;
  std::optional<domain::Account> findAccount(const std::string& id) override;
  std::optional<domain::Account> findAccountByName(const std::string& name) override;
  std::optional<domain::Account> findTenantAccount(const std::string& tenantId) override;
  std::vector<domain::Account> listProviderAccounts() override;
  void updateAccount(const domain::Account& account) override;
  void deleteAccount(const std::string& id) override;
  void insertSession(const domain::Session& session) override;
  std::optional<domain::Session> findSession(const std::string& tokenHash) override;
  void deleteSession(const std::string& tokenHash) override;
  std::size_t deleteSessionsOf(const std::string& accountId) override;
  std::size_t deleteExpiredSessions(std::int64_t nowUnix) override;

  void appendAudit(const domain::AuditEntry& entry) override;
  std::vector<domain::AuditEntry> queryAudit(const domain::AuditQuery& query) override;
  domain::Maintenance maintenance() override;
  void setMaintenance(const domain::Maintenance& maintenance) override;

  void insertCloudHost(const domain::CloudHost& host) override;
  std::optional<domain::CloudHost> findCloudHost(const std::string& id) override;
  std::vector<domain::CloudHost> listCloudHosts() override;
  void updateCloudHost(const domain::CloudHost& host) override;
  void deleteCloudHost(const std::string& id) override;

  void insertVlanRange(const domain::VlanRange& range) override;
  std::optional<domain::VlanRange> findVlanRange(const std::string& id) override;
  std::vector<domain::VlanRange> listVlanRanges(const std::string& cloudHostId) override;
  void updateVlanRange(const domain::VlanRange& range) override;
  void deleteVlanRange(const std::string& id) override;
  std::size_t freeVlanCount(const std::string& cloudHostId, bool internet) override;

  void insertPublicIps(const std::vector<domain::PublicIp>& addresses) override;
  std::vector<domain::PublicIp> listPublicIps() override;
  void deletePublicIp(const std::string& address) override;
  std::size_t freePublicIpCount() override;

  void insertPlan(const domain::HardwarePlan& plan) override;
  std::optional<domain::HardwarePlan> findPlan(const std::string& id) override;
  std::vector<domain::HardwarePlan> listPlans() override;
  void updatePlan(const domain::HardwarePlan& plan) override;
  void deletePlan(const std::string& id) override;

  std::optional<domain::Subscription> findAnySubscription(const std::string& id) override;
  std::vector<domain::Subscription> listSubscriptions() override;
  std::vector<domain::Subscription> planSubscriptions(const std::string& planId) override;

  std::optional<domain::Replica> findAnyReplica(const std::string& id) override;
  std::vector<domain::Replica> listReplicas(std::uint32_t limit) override;
  std::vector<domain::Replica> replicasOnCloudHost(const std::string& cloudHostId) override;
  std::optional<domain::FailoverPlan> findAnyFailoverPlan(const std::string& id) override;
  std::vector<domain::FailoverPlan> listFailoverPlans() override;
  std::optional<domain::FailoverSession> findAnySession(const std::string& id) override;
  std::vector<domain::FailoverSession> listSessions(std::uint32_t limit) override;
  std::vector<domain::FailoverSession> sessionsInProgress() override;
  std::vector<domain::ReplicationJob> listReplicationJobs() override;
  std::vector<domain::ReplicationRun> listReplicationRuns(std::uint32_t limit) override;
  std::size_t failRunningReplicationRuns(const std::string& reason, std::int64_t nowUnix) override;
  std::string setting(const std::string& key) override;
  void setSetting(const std::string& key, const std::string& value) override;

  void insertTask(const domain::Task& task) override;
  std::optional<domain::Task> findAnyTask(const std::string& id) override;
  std::vector<domain::Task> listTasks(std::uint32_t limit) override;
  std::vector<domain::Task> tasksInState(domain::TaskState state) override;
  bool anyTaskInState(domain::TaskState state) override;
  void updateTask(const domain::Task& task) override;
  void requestCancel(const std::string& taskId) override;
  bool cancelRequested(const std::string& taskId) override;

 private:
  std::string sealConfig(const domain::CloudHost& host) const;
  domain::CloudHost readCloudHost(SQLite::Statement& row) const;
  // Inserts a range's VLAN rows, keeping rows already there (allocated VLANs stay with tenants).
  void fillVlans(const domain::VlanRange& range);
  void writePlanStorages(const domain::HardwarePlan& plan);

  ConnectionPool& pool_;
  std::unique_lock<std::mutex> writer_;  // before db_: released after the connection
  std::unique_ptr<Connection> db_;
  bool done_ = false;
};

// Shared by provider and tenant scopes: the rows matching a WHERE clause (empty = all) whose
// parameters are bound from `values` in order.
std::vector<domain::Subscription> selectSubscriptions(SQLite::Database& db,
                                                      const std::string& where,
                                                      const std::vector<std::string>& values);
std::vector<domain::ReplicationRun> selectReplicationRuns(SQLite::Database& db,
                                                          const std::string& where,
                                                          const std::vector<std::string>& values,
                                                          std::uint32_t limit);
std::vector<domain::Task> selectTasks(SQLite::Database& db, const std::string& where,
                                      const std::vector<std::string>& values, std::uint32_t limit);
// `withDevices` false leaves disks and NICs empty (their JSON is neither read nor decoded).
std::vector<domain::Replica> selectReplicas(SQLite::Database& db, const std::string& where,
                                            const std::vector<std::string>& values,
                                            std::uint32_t limit, bool withDevices = true);
std::vector<domain::FailoverPlan> selectFailoverPlans(SQLite::Database& db,
                                                      const std::string& where,
                                                      const std::vector<std::string>& values);
std::vector<domain::FailoverSession> selectSessions(SQLite::Database& db, const std::string& where,
                                                    const std::vector<std::string>& values,
                                                    std::uint32_t limit);

}  // namespace warmsite::store::sqlite
