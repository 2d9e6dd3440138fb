#pragma once
// Checks and lookups the plugin's parts share.

#include <cstdlib>
#include <string>
#include <vector>

#include "libvirt_util.h"
#include "warmsite/plugin/result.h"
#include "warmsite/plugin/types.h"

namespace warmsite::libvirtplugin {

// A Warmsite id: 1-128 bytes of text XML can carry (kInvalidArgument naming `field`).
plugin::Status checkId(const char* field, const std::string& value);
// Free text (names, descriptions): anything XML can carry.
plugin::Status checkText(const char* field, const std::string& value);

plugin::Error notFound(const std::string& what, const std::string& id);

// The object's libvirt UUID: the opaque platformRef core stores and shows.
std::string uuidOf(virDomainPtr domain);
std::string uuidOf(virNetworkPtr network);

// "52:54:00:xx:xx:xx" with random low bytes, as libvirt picks them.
std::string randomMac();
// Six hex octets separated by ':', unicast (libvirt refuses multicast MACs on interfaces).
bool validUnicastMac(const std::string& mac);

// Looks a domain up by its Warmsite machine id: kNotFound "machine <id> not found" when absent.
plugin::Result<DomainHandle> lookupDomain(virConnectPtr conn, const std::string& machineId);
plugin::Result<int> domainState(virDomainPtr domain);

struct DomainPower {
  DomainHandle domain;
  plugin::PowerState power;
};
// The machine's domain and its power now.
plugin::Result<DomainPower> lookupWithPower(virConnectPtr conn, const std::string& machineId);

// A restore point of a replica's domain: kNotFound "restore point <rp> of <replica> not found".
plugin::Result<SnapshotHandle> lookupRestorePoint(virDomainPtr domain, const std::string& replicaId,
                                                  const std::string& restorePointId);

// Owns an array a virConnectListAll* call returned, with its elements.
template <typename Ptr, int (*Free)(Ptr)>
class LibvirtList {
 public:
  LibvirtList() = default;
  ~LibvirtList() {
    for (int i = 0; i < count_; ++i) Free(items_[i]);
    std::free(items_);
  }
  LibvirtList(const LibvirtList&) = delete;
  LibvirtList& operator=(const LibvirtList&) = delete;
  Ptr** out() { return &items_; }
  void setCount(int count) { count_ = count; }
  Ptr* begin() const { return items_; }
  Ptr* end() const { return items_ + count_; }

 private:
  Ptr* items_ = nullptr;
  int count_ = 0;
};

using DomainList = LibvirtList<virDomainPtr, virDomainFree>;
using NetworkList = LibvirtList<virNetworkPtr, virNetworkFree>;
using SnapshotList = LibvirtList<virDomainSnapshotPtr, virDomainSnapshotFree>;

}  // namespace warmsite::libvirtplugin
