#pragma once
// vsphere-mock: an in-memory vSphere-like stack behind the Warmsite plugin ABI.
//
// This plugin documents the ABI's semantics. Every other plugin must behave as this one does where
// the ABI leaves room (the conformance suite holds them all to it):
//
// Backend model (SimulatedVcenter): ESXi hosts with CPU and memory, datastores with a capacity,
// one resource pool per plan subscription with its CPU/memory limits and storage quotas, one port
// group per tenant network carrying its VLAN id, VMs with a power state, NIC MACs and snapshots,
// an NSX-like edge holding each tenant's DNAT/SNAT rules, and isolated port groups for test
// bubbles. State lives as long as the process (keyed by the config's "vcenter" name, so a new
// plugin object with the same name sees the same inventory, like a reconnect to a real vCenter),
// and optionally in "state_file", rewritten atomically after each change, so it survives a restart.
//
// State rules (and their error codes), as vSphere enforces them:
// - power on a VM that is on: kInvalidState ("InvalidPowerState"); power off one that is off: same.
// - delete a VM that is on, or that still has test copies: kInvalidState.
// - disks beyond a datastore's free space or a plan storage quota: kResourceExhausted
//   ("InsufficientDiskSpace" / "QuotaExceeded"); CPU or memory beyond the pool limits: same.
// - power on beyond the host's memory: kResourceExhausted ("InsufficientResourcesFault").
// - a VLAN already carried by another port group: kAlreadyExists ("DuplicateName").
// - release a pool that still holds VMs or networks, delete a port group with NICs on it:
// kInvalidState.
// - revert a snapshot of a running VM: kInvalidState (the ABI asks for the VM to be off).
//
// Config (JSON):
//   {"vcenter": "vc-lab",                       // instance name; default "default"
//    "username": "svc", "password": "...",      // optional; the first login sets them
//    "state_file": "/var/lib/warmsite/vc.json", // optional persistence
//    "hosts": [{"name": "esx-01", "cpu_mhz": 96000, "memory_mb": 524288}],  // 0 = unlimited
//    "datastores": [{"name": "ds-01", "capacity_gb": 4096}],
//    "max_nics_per_vm": 10,
//    "latency_ms": {...}, "faults": [...]}      // see fault_injector.h
// Defaults: one unlimited host "esx-01" and one 100 TiB datastore "datastore1".

#include <memory>

#include "warmsite/plugin/abi.h"

namespace warmsite::vspheremock {

plugin::CreateResult create(const plugin::FactoryArgs& args);

}  // namespace warmsite::vspheremock
