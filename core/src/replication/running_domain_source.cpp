#include "replication/running_domain_source.h"

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <libxml/parser.h>
#include <libxml/xpath.h>
#include <stdlib.h>

#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <thread>

namespace warmsite::replication {

namespace {

std::string libvirtError() {
  const char* message = virGetLastErrorMessage();
  return message ? message : "unknown libvirt error";
}

// Text for an XML attribute or element between our own quotes.
std::string xmlEscaped(const std::string& text) {
  std::string escaped;
  for (const char c : text) {
    switch (c) {
      case '&':
        escaped += "&amp;";
        break;
      case '<':
        escaped += "&lt;";
        break;
      case '>':
        escaped += "&gt;";
        break;
      case '\'':
        escaped += "&apos;";
        break;
      case '"':
        escaped += "&quot;";
        break;
      default:
        escaped += c;
    }
  }
  return escaped;
}

// The targets of the domain's disks (not CD-ROMs or floppies): every one must be named in a
// backup, as taking part or not.
std::vector<std::string> diskTargets(const std::string& domainXml) {
  std::vector<std::string> targets;
  xmlDocPtr document = xmlReadMemory(domainXml.data(), static_cast<int>(domainXml.size()),
                                     "domain.xml", nullptr, XML_PARSE_NONET | XML_PARSE_NOERROR);
  if (document == nullptr) throw ImageError("libvirt returned a domain description not XML");
  xmlXPathContextPtr context = xmlXPathNewContext(document);
  xmlXPathObjectPtr found = xmlXPathEvalExpression(
      reinterpret_cast<const xmlChar*>("/domain/devices/disk[@device='disk']/target/@dev"),
      context);
  if (found != nullptr && found->nodesetval != nullptr) {
    for (int i = 0; i < found->nodesetval->nodeNr; ++i) {
      xmlChar* value = xmlNodeGetContent(found->nodesetval->nodeTab[i]);
      targets.emplace_back(reinterpret_cast<const char*>(value));
      xmlFree(value);
    }
  }
  xmlXPathFreeObject(found);
  xmlXPathFreeContext(context);
  xmlFreeDoc(document);
  return targets;
}

// One connection per URI for the process's lifetime (a reference for each caller): a driver
// embedded in the process registers itself again on every open, and libvirt allows few.
virConnectPtr sharedConnection(const std::string& uri) {
  static std::mutex mutex;
  static std::map<std::string, virConnectPtr> connections;
  std::lock_guard lock(mutex);
  auto& connection = connections[uri];
  if (connection != nullptr && virConnectIsAlive(connection) != 1) {
    virConnectClose(connection);  // e.g. libvirtd restarted since
    connection = nullptr;
  }
  if (connection == nullptr) connection = virConnectOpen(uri.c_str());
  if (connection != nullptr) virConnectRef(connection);
  return connection;
}

struct ConnectionRelease {
  void operator()(virConnectPtr connection) const { virConnectClose(connection); }
};
struct DomainRelease {
  void operator()(virDomainPtr domain) const { virDomainFree(domain); }
};

class RunningDomainSource final : public ChangeSource {
 public:
  explicit RunningDomainSource(const RunningDomainOptions& options) : options_(options) {
    startLibvirtEventLoop();
    connection_.reset(sharedConnection(options_.uri));
    if (connection_ == nullptr) {
      throw ImageError("cannot connect to libvirt at " + options_.uri + ": " + libvirtError());
    }
    domain_.reset(virDomainLookupByName(connection_.get(), options_.domain.c_str()));
    if (domain_ == nullptr)
      domain_.reset(virDomainLookupByUUIDString(connection_.get(), options_.domain.c_str()));
    if (domain_ == nullptr) {
      throw ImageError("libvirt at " + options_.uri + " has no domain " + options_.domain);
    }
    if (virDomainIsActive(domain_.get()) != 1) {
      throw ImageError("domain " + options_.domain +
                       " is not running; replicate a shut-off VM from its image files");
    }
    char* xml = virDomainGetXMLDesc(domain_.get(), 0);
    if (xml == nullptr) throw ImageError("cannot describe domain " + options_.domain);
    allTargets_ = diskTargets(xml);
    free(xml);
    for (const auto& target : options_.targets) {
      virDomainBlockInfo info{};
      if (virDomainGetBlockInfo(domain_.get(), target.c_str(), &info, 0) != 0) {
        throw ImageError("domain " + options_.domain + " has no disk " + target + ": " +
                         libvirtError());
      }
      sizes_.push_back(info.capacity);
    }
  }

  ~RunningDomainSource() override {
    try {
      endBackup();
    } catch (const ImageError&) {
    }
  }

  std::uint64_t diskSize(std::size_t disk) const override { return sizes_[disk]; }

  std::string baseProblem(std::size_t, const std::string& base) const override {
    virDomainCheckpointPtr checkpoint =
        virDomainCheckpointLookupByName(domain_.get(), base.c_str(), 0);
    if (checkpoint == nullptr) {
      return "the checkpoint " + base + " of domain " + options_.domain + " is missing";
    }
    virDomainCheckpointFree(checkpoint);
    return "";
  }

  std::vector<std::unique_ptr<NbdExport>> open(const std::string& next,
                                               const std::string& base) override {
    endBackup();  // a restart in full: the first attempt's backup goes
    abandonLeftoverBackup();
    // Checkpoints of runs never confirmed (and, for a full run, the untrusted base) are stale.
    dropCheckpoints([&](const std::string& name) { return name != base; });

    std::filesystem::create_directories(options_.scratchDir);
    std::string pattern = (options_.scratchDir / "run-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) {
      throw ImageError("cannot create a run directory in " + options_.scratchDir.string());
    }
    runDir_ = pattern;
    const auto socket = runDir_ / "backup.sock";
    if (socket.string().size() >= 108) {  // sockaddr_un's limit
      throw ImageError("the backup socket path " + socket.string() +
                       " is too long; choose a shorter scratch directory");
    }

    const std::set<std::string> chosen(options_.targets.begin(), options_.targets.end());
    std::string backup = "<domainbackup mode='pull'>";
    if (!base.empty()) backup += "<incremental>" + xmlEscaped(base) + "</incremental>";
    backup += "<server transport='unix' socket='" + xmlEscaped(socket.string()) + "'/><disks>";
    std::string checkpoint = "<domaincheckpoint><name>" + xmlEscaped(next) + "</name><disks>";
    for (const auto& target : allTargets_) {
      const auto name = xmlEscaped(target);
      if (chosen.count(target) == 0) {
        backup += "<disk name='" + name + "' backup='no'/>";
        checkpoint += "<disk name='" + name + "' checkpoint='no'/>";
        continue;
      }
      backup += "<disk name='" + name + "' backup='yes' type='file'><scratch file='" +
                xmlEscaped((runDir_ / (target + ".scratch.qcow2")).string()) + "'/></disk>";
      checkpoint += "<disk name='" + name + "' checkpoint='bitmap'/>";
    }
    backup += "</disks></domainbackup>";
    checkpoint += "</disks></domaincheckpoint>";

    if (virDomainBackupBegin(domain_.get(), backup.c_str(), checkpoint.c_str(), 0) < 0) {
      const auto error = libvirtError();
      removeRunDir();
      if (!base.empty()) {
        throw BaseUnusable("libvirt cannot back up domain " + options_.domain +
                           " since checkpoint " + base + ": " + error);
      }
      throw ImageError("libvirt cannot back up domain " + options_.domain + ": " + error);
    }
    backupActive_ = true;

    std::vector<std::unique_ptr<NbdExport>> exports;
    for (const auto& target : options_.targets) {
      // libvirt exports each disk under its target name, and the changes since the incremental
      // base as the bitmap backup-<target>.
      exports.push_back(std::make_unique<NbdExport>(NbdExport::Served{
          .socket = socket,
          .exportName = target,
          .dirtyBitmapContext = base.empty() ? "" : "qemu:dirty-bitmap:backup-" + target,
          .description = "disk " + target + " of domain " + options_.domain}));
    }
    return exports;
  }

  void finish(bool committed, const std::string& next) override {
    endBackup();
    dropCheckpoints([&](const std::string& name) { return (name != next) == committed; });
  }

 private:
  // Ends this run's backup job: QEMU stops serving and libvirt removes the scratch files.
  void endBackup() {
    if (!backupActive_) return;
    backupActive_ = false;
    if (virDomainAbortJob(domain_.get()) != 0) {
      const auto error = libvirtError();
      removeRunDir();
      throw ImageError("cannot end the backup job of domain " + options_.domain + ": " + error);
    }
    waitForNoJob();
    removeRunDir();
  }

  // libvirt finishes ending a job after the abort call returns.
  void waitForNoJob() {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    virDomainJobInfo job{};
    while (virDomainGetJobInfo(domain_.get(), &job) == 0 && job.type != VIR_DOMAIN_JOB_NONE &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }

  // A backup an agent killed mid-run left behind (its socket lies in our scratch directory).
  void abandonLeftoverBackup() {
    virDomainJobInfo job{};
    if (virDomainGetJobInfo(domain_.get(), &job) != 0 || job.type == VIR_DOMAIN_JOB_NONE) return;
    char* xml = virDomainBackupGetXMLDesc(domain_.get(), 0);
    if (xml == nullptr) {
      throw ImageError("domain " + options_.domain +
                       " is busy with another job: " + libvirtError());
    }
    const std::string description = xml;
    free(xml);
    if (description.find(xmlEscaped(options_.scratchDir.string())) == std::string::npos) {
      throw ImageError("domain " + options_.domain + " is in another tool's backup job");
    }
    if (virDomainAbortJob(domain_.get()) != 0) {
      throw ImageError("cannot end a backup job an earlier run left on domain " + options_.domain +
                       ": " + libvirtError());
    }
    waitForNoJob();
  }

  template <typename Predicate>
  void dropCheckpoints(Predicate drop) {
    virDomainCheckpointPtr* checkpoints = nullptr;
    const int count = virDomainListAllCheckpoints(domain_.get(), &checkpoints, 0);
    if (count < 0) {
      throw ImageError("cannot list the checkpoints of domain " + options_.domain + ": " +
                       libvirtError());
    }
    std::string failure;
    for (int i = 0; i < count; ++i) {
      const std::string name = virDomainCheckpointGetName(checkpoints[i]);
      if (name.starts_with(kTrackerPrefix) && drop(name) &&
          virDomainCheckpointDelete(checkpoints[i], 0) != 0 && failure.empty()) {
        failure = "cannot delete checkpoint " + name + ": " + libvirtError();
      }
      virDomainCheckpointFree(checkpoints[i]);
    }
    free(checkpoints);
    if (!failure.empty()) throw ImageError(failure);
  }

  void removeRunDir() {
    std::error_code ignored;
    if (!runDir_.empty()) std::filesystem::remove_all(runDir_, ignored);
    runDir_.clear();
  }

  RunningDomainOptions options_;
  // Declared before domain_: released after it.
  std::unique_ptr<virConnect, ConnectionRelease> connection_;
  std::unique_ptr<virDomain, DomainRelease> domain_;
  std::vector<std::string> allTargets_;
  std::vector<std::uint64_t> sizes_;
  std::filesystem::path runDir_;
  bool backupActive_ = false;
};

}  // namespace

void startLibvirtEventLoop() {
  static std::once_flag once;
  std::call_once(once, [] {
    // Errors reach the caller in exceptions; libvirt's default handler would also print them.
    virSetErrorFunc(nullptr, [](void*, virErrorPtr) {});
    if (virEventRegisterDefaultImpl() != 0) {
      throw ImageError("cannot start libvirt's event loop: " + libvirtError());
    }
    std::thread([] {
      while (virEventRunDefaultImpl() == 0) {
      }
    }).detach();
  });
}

std::unique_ptr<ChangeSource> runningDomainSource(const RunningDomainOptions& options) {
  return std::make_unique<RunningDomainSource>(options);
}

}  // namespace warmsite::replication
