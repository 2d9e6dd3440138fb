#pragma once
// Persistence behind one interface. SQLite is the embedded default (sqlite_store.h); the same
// interface is meant for PostgreSQL (allocation with FOR UPDATE SKIP LOCKED) when several daemons
// share state. One request = one transaction: a handler opens it, calls the repositories, commits.
//
// Tenant data is reached only through TenantScope, which carries the tenant id into every query:
// a handler cannot forget the filter, because it never writes one.

#include <cstdint>
#include <memory>
#include <optional>
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

  // Takes the lowest free VLAN of `cloudHostId` from its ranges with (or without) internet for
  // `networkId`; nullopt when those ranges are exhausted.
  virtual std::optional<std::uint32_t> allocateVlan(const std::string& cloudHostId, bool internet,
                                                    const std::string& networkId) = 0;
  virtual std::vector<domain::VlanAllocation> vlans() = 0;
  // Frees every VLAN of this tenant on `cloudHostId`; returns how many.
  virtual std::size_t releaseVlans(const std::string& cloudHostId) = 0;

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

  // Tenants (provider scope: the SP lists and edits all of them).
  virtual void insertTenant(const domain::Tenant& tenant) = 0;  // duplicate name: kConflict
  virtual std::optional<domain::Tenant> findTenant(const std::string& id) = 0;
  virtual std::vector<domain::Tenant> listTenants() = 0;
  virtual std::unique_ptr<TenantScope> tenant(const std::string& tenantId) = 0;

  // Cloud hosts.
  virtual void insertCloudHost(const domain::CloudHost& host) = 0;  // duplicate name: kConflict
  virtual std::optional<domain::CloudHost> findCloudHost(const std::string& id) = 0;
  virtual std::vector<domain::CloudHost> listCloudHosts() = 0;
  virtual void deleteCloudHost(const std::string& id) = 0;  // kNotFound; in use: kConflict

  // VLAN ranges of a cloud host. A range overlapping another of the same host is kConflict.
  virtual void insertVlanRange(const domain::VlanRange& range) = 0;
  virtual std::vector<domain::VlanRange> listVlanRanges(const std::string& cloudHostId) = 0;
};

class Store {
 public:
  virtual ~Store() = default;

  // A write transaction holds the write lock from its first statement (SQLite: BEGIN IMMEDIATE),
  // so a read-then-write never fails half-way on a lock upgrade.
  virtual std::unique_ptr<Transaction> beginWrite() = 0;
  // A read transaction sees one consistent snapshot.
  virtual std::unique_ptr<Transaction> beginRead() = 0;

  virtual int schemaVersion() = 0;

  // Runs `work` in a write transaction and commits it; an exception rolls everything back.
  template <typename Work>
  auto write(Work&& work) {
    auto tx = beginWrite();
    if constexpr (std::is_void_v<decltype(work(*tx))>) {
      work(*tx);
      tx->commit();
    } else {
      auto result = work(*tx);
      tx->commit();
      return result;
    }
  }

  template <typename Work>
  auto read(Work&& work) {
    auto tx = beginRead();
    return work(*tx);
  }
};

}  // namespace warmsite::store
