#pragma once
// Compute part of the plugin ABI: tenant resources, replicas, power, restore points, inventory.
//
// Rules for every method (the conformance suite checks them against each plugin):
// - noexcept; failure is an Error, never an exception.
// - Thread-safe: core calls any method from any worker thread, concurrently, up to
//   Capabilities::maxConcurrentCalls. Calls on different ids must not serialize behind one another
//   for longer than a backend round trip.
// - Idempotent by Warmsite id: repeating a create with the same id and the same spec returns
// success
//   and changes nothing; the same id with a different spec is kAlreadyExists. Deleting what is not
//   there is success. This is what makes a replay after a crash safe.
// - Power calls follow the backend's state rules and are NOT silently idempotent: powering on a
//   running machine is kInvalidState, as it is on a real stack. A replay reads machine() first.
// - A failed call leaves the backend as it was before the call, unless the method says otherwise.

#include <string>
#include <vector>

#include "warmsite/plugin/result.h"
#include "warmsite/plugin/types.h"
#include "warmsite/plugin/visibility.h"

namespace warmsite::plugin {

class WARMSITE_VISIBLE ComputeApi {
 public:
  virtual ~ComputeApi() = default;

  // Creates, or updates to match `spec`, the tenant's resources for one plan subscription (a
  // resource pool, storage folders or pools with quotas). Updating lowers nothing already used:
  // shrinking a storage quota below what replicas use is kResourceExhausted and changes nothing.
  // Pre: none. Success: the resources exist with exactly spec's limits. Failure: nothing created.
  // @since 1.0
  virtual Result<TenantResources> applyTenantResources(const TenantResourcesSpec& spec,
                                                       const CallContext& ctx) noexcept = 0;

  // Removes a subscription's resources. Pre: no machine of the subscription exists, else
  // kInvalidState naming one. Unknown id: success. Failure: resources unchanged.
  // @since 1.0
  virtual Status releaseTenantResources(const std::string& subscriptionId,
                                        const CallContext& ctx) noexcept = 0;

  // Reads a subscription's resources and storage usage. Unknown id: kNotFound.
  // @since 1.0
  virtual Result<TenantResources> tenantResources(const std::string& subscriptionId,
                                                  const CallContext& ctx) noexcept = 0;

  // Creates a powered-off replica: disks on the subscription's storages, NICs on tenant networks,
  // Warmsite ids recorded in the backend so inventory() finds it after a restart.
  // Pre: the subscription's resources and the NICs' networks exist (kNotFound otherwise); disks fit
  // the storage quotas and CPU/memory fit the subscription's limits (kResourceExhausted otherwise).
  // Success: the replica exists, powered off, with no restore point.
  // Failure: nothing of the replica is left (disks created before the failure are removed).
  // @since 1.0
  virtual Result<MachineInfo> createReplica(const ReplicaSpec& spec,
                                            const CallContext& ctx) noexcept = 0;

  // Deletes a replica with its disks and restore points. Pre: powered off, else kInvalidState.
  // Unknown id: success. Failure: the replica is still there and still usable.
  // @since 1.0
  virtual Status deleteReplica(const std::string& replicaId, const CallContext& ctx) noexcept = 0;

  // Reads one machine (replica or test copy). Unknown id: kNotFound.
  // @since 1.0
  virtual Result<MachineInfo> machine(const std::string& machineId,
                                      const CallContext& ctx) noexcept = 0;

  // Powers a machine on. Pre: powered off or suspended, else kInvalidState; resources of the
  // tenant pool must allow it (kResourceExhausted). Success: power is kOn.
  // @since 1.0
  virtual Status powerOn(const std::string& machineId, const CallContext& ctx) noexcept = 0;

  // Powers a machine off, gracefully first when asked and supported. Pre: powered on or
  // suspended, else kInvalidState. Success: power is kOff. kTimeout: it may still be running.
  // @since 1.0
  virtual Status powerOff(const std::string& machineId, const PowerOffOptions& options,
                          const CallContext& ctx) noexcept = 0;

  // Takes a restore point of a replica's current disks. Same id again: success, nothing new.
  // Past Capabilities::maxRestorePointsPerReplica the oldest is replaced (the plugin says so in
  // its capabilities; core applies retention before that). Failure: no new restore point.
  // @since 1.0
  virtual Result<RestorePointInfo> createRestorePoint(const std::string& replicaId,
                                                      const std::string& restorePointId,
                                                      const std::string& description,
                                                      const CallContext& ctx) noexcept = 0;

  // Lists a replica's restore points, oldest first. Unknown replica: kNotFound.
  // @since 1.0
  virtual Result<std::vector<RestorePointInfo>> listRestorePoints(
      const std::string& replicaId, const CallContext& ctx) noexcept = 0;

  // Reverts a replica's disks to a restore point; later restore points stay. Pre: powered off,
  // else kInvalidState; unknown restore point: kNotFound. Failure: the disks are as before.
  // @since 1.0
  virtual Status revertToRestorePoint(const std::string& replicaId,
                                      const std::string& restorePointId,
                                      const CallContext& ctx) noexcept = 0;

  // Deletes a restore point, merging its data into its neighbours. Unknown id: success.
  // @since 1.0
  virtual Status deleteRestorePoint(const std::string& replicaId, const std::string& restorePointId,
                                    const CallContext& ctx) noexcept = 0;

  // Every Warmsite-owned machine the backend holds, read from the backend itself (not from a
  // cache), so core can reconcile its store after a crash. Machines of other owners are left out.
  // @since 1.0
  virtual Result<std::vector<MachineInfo>> inventory(const CallContext& ctx) noexcept = 0;

  // Makes the listed disks of a machine boot from data files instead of the backend's own volumes
  // (a replicated restore point after a failover; overlays of it for a test copy); an empty list
  // returns every disk to its own volume. Disks not listed keep their source. Pre: powered off
  // (kInvalidState); each diskId is the machine's and each path absolute (kInvalidArgument);
  // unknown machine: kNotFound. The same list again: success. Failure: sources as before. A
  // backend that cannot open the SP's files keeps this default: kUnimplemented.
  // @since 1.1
  virtual Status useDiskData(const std::string& machineId, const std::vector<DiskData>& disks,
                             const CallContext& ctx) noexcept {
    (void)disks, (void)ctx;
    return makeError(ErrorCode::kUnimplemented,
                     "this cloud host cannot boot data files (machine " + machineId + ")");
  }
  // The data files a machine's disks boot from, in DiskSpec order; empty when all use their own
  // volumes. Unknown machine: kNotFound.
  // @since 1.1
  virtual Result<std::vector<DiskData>> diskData(const std::string& machineId,
                                                 const CallContext& ctx) noexcept {
    (void)ctx;
    return makeError(ErrorCode::kUnimplemented,
                     "this cloud host cannot boot data files (machine " + machineId + ")");
  }
};

}  // namespace warmsite::plugin
