#pragma once
// A running libvirt domain as the source of a replication run: each run is a pull-mode backup
// (QEMU serves a point-in-time view of the disks over NBD on a unix socket, kept stable by
// copy-before-write into a scratch file) that creates, atomically, the checkpoint the next run
// reads its changes from. Disks must be qcow2 at the active layer. Works with libvirtd
// (qemu:///system) and with the embedded driver (qemu:///embed?root=DIR).

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "replication/change_source.h"

namespace warmsite::replication {

struct RunningDomainOptions {
  std::string uri = "qemu:///system";
  std::string domain;                // name or UUID
  std::vector<std::string> targets;  // the disks to read as the domain names them ("vda"), in order
  // Holds each run's backup socket and scratch files; QEMU must be able to write here.
  std::filesystem::path scratchDir;
};

// Connects and checks that the domain runs and has every target; throws ImageError saying why not.
std::unique_ptr<ChangeSource> runningDomainSource(const RunningDomainOptions& options);

// Starts libvirt's default event loop in this process, once: drivers that run in the process
// (qemu:///embed) need it. The source starts it itself; a program that opens its own libvirt
// connection first calls it before.
void startLibvirtEventLoop();

}  // namespace warmsite::replication
