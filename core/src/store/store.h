#pragma once
// Persistence behind one interface. SQLite is the embedded default (sqlite_store.h); the same
// interface is meant for PostgreSQL (allocation with FOR UPDATE SKIP LOCKED) when several daemons
// share state. One request = one write: a handler's work runs atomically (its own savepoint in the
// writer's group commit, see Store::submitWrite) and is durable when write() returns.
//
// Tenant data is reached only through TenantScope, which carries the tenant id into every query:
// a handler cannot forget the filter, because it never writes one. Provider-scope methods on
// Transaction serve SP administrators, who see every tenant.

#include <cstdint>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "domain/entities.h"

namespace warmsite::store {

class StoreError : public std::runtime_error {
 public:
  enum class Kind {
    kNotFound,  // the row to change is not there
    kConflict,  // a unique or foreign-key rule refused the change (duplicate name, overlap, in use)
    kBusy,      // another writer held the database past the busy timeout
    kFull,      // the disk or the database file is full
    kCorrupt,   // the file is not a database, or fails its integrity check
    kIo,        // it cannot be opened, read or written
    kSchema,    // its schema is newer than this build understands
  };
  StoreError(Kind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  Kind kind() const noexcept { return kind_; }

 private:
  Kind kind_;
};

// Queries on one tenant's data. Every statement is filtered by the tenant id given at creation.
class TenantScope {
 public:
  virtual ~TenantScope() = default;
  const std::string& tenantId() const noexcept { return tenantId_; }

  // VLANs: takes the lowest free VLAN of `cloudHostId` from its ranges with (or without) internet
  // for `networkId`; nullopt when those ranges are exhausted.
  virtual std::optional<std::uint32_t> allocateVlan(const std::string& cloudHostId, bool internet,
                                                    const std::string& networkId) = 0;
  virtual std::vector<domain::VlanAllocation> vlans() = 0;
  // Frees every VLAN of this tenant on `cloudHostId`; returns how many.
  virtual std::size_t releaseVlans(const std::string& cloudHostId) = 0;

  // Public IPs: takes `count` free addresses (lowest first) for a subscription; fewer free than
  // asked returns an empty vector and takes none.
  virtual std::vector<std::string> allocatePublicIps(std::uint32_t count,
                                                     const std::string& subscriptionId) = 0;
  virtual std::vector<domain::PublicIp> publicIps() = 0;

  // Subscriptions with their networks and public IPs.
  virtual void insertSubscription(const domain::Subscription& subscription) = 0;
  virtual std::optional<domain::Subscription> findSubscription(const std::string& id) = 0;
  virtual std::vector<domain::Subscription> subscriptions() = 0;
  virtual void setSubscriptionState(const std::string& id, domain::SubscriptionState state,
                                    const std::string& error) = 0;
  // Adds a network to a subscription (after a plan edit raised its network count).
  virtual void addSubscriptionNetwork(const std::string& subscriptionId,
                                      const domain::SubscriptionNetwork& network) = 0;
  // Deletes the subscription and frees its VLANs and public IPs.
  virtual void deleteSubscription(const std::string& id) = 0;
  virtual std::size_t replicaCount(const std::string& subscriptionId) = 0;

  // The tenant's subnet on one of its networks (for outbound NAT); "" clears it.
  virtual void setNetworkSubnet(const std::string& networkId,
                                const std::string& cidr) = 0;       // kNotFound
  virtual std::map<std::string, std::string> networkSubnets() = 0;  // network id -> CIDR

  // Tasks of this tenant.
  virtual std::optional<domain::Task> findTask(const std::string& id) = 0;
  virtual std::vector<domain::Task> tasks(std::uint32_t limit) = 0;
  virtual std::size_t countTasks(domain::TaskState state) = 0;

  // Replicas and their restore points.
  virtual void insertReplica(const domain::Replica& replica) = 0;
  virtual std::optional<domain::Replica> findReplica(const std::string& id) = 0;
  // All of the tenant's replicas, or those of one subscription.
  virtual std::vector<domain::Replica> replicas(const std::string& subscriptionId = {}) = 0;
  // All of the tenant's replicas without their disks and NICs (empty): for checks of states and
  // names, with no device lists to decode.
  virtual std::vector<domain::Replica> replicasWithoutDevices() = 0;
  virtual void updateReplica(const domain::Replica& replica) = 0;  // kNotFound
  // Only the state and error; false when the replica no longer exists.
  virtual bool setReplicaState(const std::string& replicaId, domain::ReplicaState state,
                               const std::string& error) = 0;
  virtual void deleteReplica(const std::string& id) = 0;  // with its restore points
  virtual void insertRestorePoint(const domain::RestorePoint& point) = 0;
  virtual std::vector<domain::RestorePoint> restorePoints(
      const std::string& replicaId) = 0;  // oldest first
  // The newest restore point (at or before `atOrBefore`, when given) of each of the tenant's
  // replicas, or of `replicaId` alone: replica id -> point id; a replica without one is absent.
  // One query for a whole plan.
  virtual std::map<std::string, std::string> newestRestorePoints(
      const std::optional<std::string>& replicaId, std::optional<std::int64_t> atOrBefore) = 0;
  virtual void deleteRestorePoint(const std::string& replicaId, const std::string& pointId) = 0;

  // Replication jobs and runs.
  virtual void insertReplicationJob(
      const domain::ReplicationJob& job) = 0;  // duplicate name: kConflict
  virtual std::optional<domain::ReplicationJob> findReplicationJob(const std::string& id) = 0;
  virtual std::vector<domain::ReplicationJob> replicationJobs() = 0;
  virtual void deleteReplicationJob(const std::string& id) = 0;  // kNotFound
  // The run's replica must be the tenant's (kNotFound otherwise).
  virtual void insertReplicationRun(const domain::ReplicationRun& run) = 0;
  virtual void updateReplicationRun(const domain::ReplicationRun& run) = 0;  // kNotFound
  virtual std::optional<domain::ReplicationRun> findReplicationRun(const std::string& id) = 0;
  // Newest first; of one replica when replicaId is given.
  virtual std::vector<domain::ReplicationRun> replicationRuns(const std::string& replicaId,
                                                              std::uint32_t limit) = 0;

  // Failover plans and their sessions.
  virtual void insertFailoverPlan(
      const domain::FailoverPlan& plan) = 0;  // duplicate name: kConflict
  virtual std::optional<domain::FailoverPlan> findFailoverPlan(const std::string& id) = 0;
  virtual std::vector<domain::FailoverPlan> failoverPlans() = 0;
  virtual void updateFailoverPlan(const domain::FailoverPlan& plan) = 0;  // kNotFound
  // Only the plan's state and last session (its members stay as they are); kNotFound.
  virtual void setFailoverPlanState(const std::string& planId, domain::FailoverPlanState state,
                                    const std::string& lastSessionId) = 0;
  virtual void deleteFailoverPlan(const std::string& id) = 0;
  virtual void insertSession(const domain::FailoverSession& session) = 0;
  virtual std::optional<domain::FailoverSession> findSession(const std::string& id) = 0;
  // Newest first; of one plan when planId is given.
  virtual std::vector<domain::FailoverSession> sessions(const std::string& planId,
                                                        std::uint32_t limit) = 0;
  // The tenant's sessions still in progress, with their VMs.
  virtual std::vector<domain::FailoverSession> sessionsInProgress() = 0;
  // For each of `replicaIds`, the restore point its newest failover (full or partial) booted, which
  // its undo reverts to: replica id -> point id; a replica without one is absent. Reads back from
  // the newest session only until every replica was found (the whole history only when one has no
  // such point).
  virtual std::map<std::string, std::string> pointsOfLastFailovers(
      const std::vector<std::string>& replicaIds) = 0;
  virtual void updateSession(
      const domain::FailoverSession& session) = 0;  // the session's own fields
  // Journals each VM's whole state in the session (kNotFound when the session or a VM is not
  // there).
  virtual void updateSessionVms(const std::string& sessionId,
                                std::span<const domain::SessionVm> vms) = 0;

 protected:
  explicit TenantScope(std::string tenantId) : tenantId_(std::move(tenantId)) {}

 private:
  const std::string tenantId_;
};

class Transaction {
 public:
  // Destroying an uncommitted transaction rolls it back.
  virtual ~Transaction() = default;
  virtual void commit() = 0;
  // Runs `part` in a savepoint of its own: when it throws, its writes alone are undone and its
  // exception is returned, and the transaction goes on. Throws when the undo itself fails (SQLite
  // ended the whole transaction: a full disk, an I/O error).
  virtual std::exception_ptr isolated(const std::function<void()>& part) = 0;

  virtual std::unique_ptr<TenantScope> tenant(const std::string& tenantId) = 0;

  // ---- tenants (names compare without case)
  virtual void insertTenant(const domain::Tenant& tenant) = 0;  // duplicate name: kConflict
  virtual std::optional<domain::Tenant> findTenant(const std::string& id) = 0;
  virtual std::vector<domain::Tenant> listTenants() = 0;
  virtual void updateTenant(const domain::Tenant& tenant) = 0;  // kNotFound, kConflict
  // Deletes the tenant and its account and sessions; kConflict while it has subscriptions.
  virtual void deleteTenant(const std::string& id) = 0;

  // ---- accounts and sessions
  virtual void insertAccount(const domain::Account& account) = 0;  // duplicate name: kConflict
  virtual std::optional<domain::Account> findAccount(const std::string& id) = 0;
  virtual std::optional<domain::Account> findAccountByName(const std::string& name) = 0;
  virtual std::optional<domain::Account> findTenantAccount(const std::string& tenantId) = 0;
  virtual std::vector<domain::Account> listProviderAccounts() = 0;
  virtual void updateAccount(const domain::Account& account) = 0;  // kNotFound
  virtual void deleteAccount(const std::string& id) = 0;           // kNotFound
  virtual void insertSession(const domain::Session& session) = 0;
  virtual std::optional<domain::Session> findSession(const std::string& tokenHash) = 0;
  virtual void deleteSession(const std::string& tokenHash) = 0;
  virtual std::size_t deleteSessionsOf(const std::string& accountId) = 0;
  virtual std::size_t deleteExpiredSessions(std::int64_t nowUnix) = 0;

  // ---- audit and service settings
  virtual void appendAudit(const domain::AuditEntry& entry) = 0;
  virtual std::vector<domain::AuditEntry> queryAudit(const domain::AuditQuery& query) = 0;
  virtual domain::Maintenance maintenance() = 0;
  virtual void setMaintenance(const domain::Maintenance& maintenance) = 0;

  // ---- cloud hosts (config encrypted at rest when the store has a cipher)
  virtual void insertCloudHost(const domain::CloudHost& host) = 0;  // duplicate name: kConflict
  virtual std::optional<domain::CloudHost> findCloudHost(const std::string& id) = 0;
  virtual std::vector<domain::CloudHost> listCloudHosts() = 0;
  virtual void updateCloudHost(const domain::CloudHost& host) = 0;  // kNotFound
  // kNotFound; kConflict while plans use it or VLANs of it are allocated.
  virtual void deleteCloudHost(const std::string& id) = 0;

  // ---- VLAN ranges. A range overlapping another of the same host is kConflict. Editing or
  // deleting a range keeps the VLANs already allocated from it with their tenants.
  virtual void insertVlanRange(const domain::VlanRange& range) = 0;
  virtual std::optional<domain::VlanRange> findVlanRange(const std::string& id) = 0;
  virtual std::vector<domain::VlanRange> listVlanRanges(const std::string& cloudHostId) = 0;
  virtual void updateVlanRange(const domain::VlanRange& range) = 0;
  virtual void deleteVlanRange(const std::string& id) = 0;
  // Free VLANs of a host with (or without) internet.
  virtual std::size_t freeVlanCount(const std::string& cloudHostId, bool internet) = 0;

  // ---- public IP pool
  virtual void insertPublicIps(
      const std::vector<domain::PublicIp>& addresses) = 0;  // dup: kConflict
  virtual std::vector<domain::PublicIp> listPublicIps() = 0;
  virtual void deletePublicIp(const std::string& address) = 0;  // kNotFound; allocated: kConflict
  virtual std::size_t freePublicIpCount() = 0;

  // ---- hardware plans
  virtual void insertPlan(const domain::HardwarePlan& plan) = 0;  // duplicate name: kConflict
  virtual std::optional<domain::HardwarePlan> findPlan(const std::string& id) = 0;
  virtual std::vector<domain::HardwarePlan> listPlans() = 0;
  virtual void updatePlan(const domain::HardwarePlan& plan) = 0;  // kNotFound
  virtual void deletePlan(const std::string& id) = 0;  // kNotFound; subscribers: kConflict

  // ---- subscriptions, all tenants (provider scope; tenants use TenantScope)
  virtual std::optional<domain::Subscription> findAnySubscription(const std::string& id) = 0;
  virtual std::vector<domain::Subscription> listSubscriptions() = 0;
  virtual std::vector<domain::Subscription> planSubscriptions(const std::string& planId) = 0;

  // ---- replicas and sessions, all tenants (provider scope)
  virtual std::optional<domain::Replica> findAnyReplica(const std::string& id) = 0;
  virtual std::vector<domain::Replica> listReplicas(std::uint32_t limit) = 0;
  // The replicas whose subscription is on `cloudHostId` (reconcile).
  virtual std::vector<domain::Replica> replicasOnCloudHost(const std::string& cloudHostId) = 0;
  virtual std::optional<domain::FailoverPlan> findAnyFailoverPlan(const std::string& id) = 0;
  virtual std::vector<domain::FailoverPlan> listFailoverPlans() = 0;
  virtual std::optional<domain::FailoverSession> findAnySession(const std::string& id) = 0;
  virtual std::vector<domain::FailoverSession> listSessions(std::uint32_t limit) = 0;
  virtual std::vector<domain::FailoverSession> sessionsInProgress() = 0;
  virtual std::vector<domain::ReplicationJob> listReplicationJobs() = 0;
  virtual std::vector<domain::ReplicationRun> listReplicationRuns(std::uint32_t limit) = 0;
  // Marks every run still running as failed with `reason` (at start: no run survives a restart).
  virtual std::size_t failRunningReplicationRuns(const std::string& reason,
                                                 std::int64_t nowUnix) = 0;
  virtual std::string setting(const std::string& key) = 0;  // "" when unset
  virtual void setSetting(const std::string& key, const std::string& value) = 0;

  // ---- tasks
  virtual void insertTask(const domain::Task& task) = 0;
  virtual std::optional<domain::Task> findAnyTask(const std::string& id) = 0;
  virtual std::vector<domain::Task> listTasks(std::uint32_t limit) = 0;
  // Tasks in a state, oldest first (the engine's queue).
  virtual std::vector<domain::Task> tasksInState(domain::TaskState state) = 0;
  virtual bool anyTaskInState(domain::TaskState state) = 0;
  virtual void updateTask(const domain::Task& task) = 0;  // kNotFound
  // Marks a task to be cancelled; its runner sees it through its CallContext.
  virtual void requestCancel(const std::string& taskId) = 0;
  virtual bool cancelRequested(const std::string& taskId) = 0;
};

class Store {
  struct WorkFailed {};  // see write()

 public:
  virtual ~Store() = default;

  // Queues `work` for the store's writer, which commits what is queued together (group commit):
  // each work is atomic on its own (an exception undoes its writes and no other's) and sees the
  // writes queued before it. The future is ready once the work is durable, and holds its
  // exception (or the commit's) otherwise. `work` must own what it uses unless the caller waits.
  virtual std::future<void> submitWrite(std::function<void(Transaction&)> work) = 0;
  // A read transaction sees one consistent snapshot.
  virtual std::unique_ptr<Transaction> beginRead() = 0;

  virtual int schemaVersion() = 0;

  // Runs `work` as a write (above) and waits until it is durable; rethrows its exception.
  // The work's own exception is handed over in this frame, not through the future: the writer
  // thread then keeps no reference to it, and it is freed on the thread that handles it. An error
  // of the whole commit is shared with the writer thread, so this thread throws its own copy, its
  // message copied too (a copied runtime_error shares its text, counted like the exception).
  // (Exceptions are reference-counted inside libstdc++, where ThreadSanitizer cannot see it: it
  // would report the writer freeing an exception, or its text, this thread had read.)
  template <typename Work>
  auto write(Work&& work) {
    using Result = std::invoke_result_t<Work&, Transaction&>;
    std::optional<std::conditional_t<std::is_void_v<Result>, bool, Result>> result;
    std::exception_ptr failure;
    auto done = submitWrite([&](Transaction& tx) {
      try {
        if constexpr (std::is_void_v<Result>) {
          work(tx);
        } else {
          result.emplace(work(tx));
        }
      } catch (...) {
        failure = std::current_exception();
        throw WorkFailed{};  // rolls the work back
      }
    });
    const auto shared = done.share();  // unlike get(), keeps the error alive while it is copied
    try {
      shared.get();
    } catch (const WorkFailed&) {
      std::rethrow_exception(failure);
    } catch (const StoreError& e) {
      throw StoreError(e.kind(), std::string(e.what()));
    }
    if constexpr (!std::is_void_v<Result>) return std::move(*result);
  }

  template <typename Work>
  auto read(Work&& work) {
    auto tx = beginRead();
    return work(*tx);
  }
};

}  // namespace warmsite::store
