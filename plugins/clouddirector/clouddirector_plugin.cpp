// clouddirector: Warmsite's plugin for VMware Cloud Director (docs/plugin-clouddirector.md).

#include <memory>

#include "compute.h"
#include "config.h"
#include "cpprest_transport.h"
#include "edge.h"
#include "guarded.h"
#include "networks.h"
#include "site.h"
#include "subscriptions.h"
#include "vcd_client.h"
#include "warmsite/plugin/sdk.h"

namespace warmsite::clouddirector {
namespace {

class CloudDirectorPlugin final : public plugin::CloudHostPlugin {
 public:
  CloudDirectorPlugin(const Config& config, plugin::HostServices* host)
      : client_(config,
                makeCpprestTransport(
                    {config.url, config.tls, config.requestTimeout, config.httpThreads}),
                host),
        site_(client_),
        subscriptions_(client_, site_),
        networks_(client_, site_, subscriptions_),
        compute_(client_, site_, subscriptions_, networks_),
        edge_(client_, site_, networks_) {
    networks_.setUsageCheck([this](const std::string& networkId, const plugin::CallContext& ctx) {
      return compute_.replicaOnNetwork(networkId, ctx);
    });
  }

  plugin::Capabilities capabilities() const noexcept override {
    plugin::Capabilities caps;
    caps.compute = caps.network = caps.edge = true;
    // Test copies would need a VM cloned from a snapshot, which Cloud Director does not offer.
    caps.testIsolation = false;
    caps.gracefulShutdown = false;        // needs VMware Tools in the guest: not promised
    caps.maxRestorePointsPerReplica = 1;  // one snapshot per VM; a new one replaces it
    caps.maxNicsPerReplica = 10;
    caps.maxConcurrentCalls = client_.config().maxConcurrentCalls;
    return caps;
  }

  plugin::ComputeApi* compute() noexcept override { return &compute_; }
  plugin::NetworkApi* network() noexcept override { return &networks_; }
  plugin::EdgeApi* edge() noexcept override { return &edge_; }

  plugin::Status checkHealth(const plugin::CallContext& ctx) noexcept override {
    return guarded("check_health", [&]() -> plugin::Status {
      site_.vdc(ctx);  // logs in and finds the VDC the first time
      client_.get("/cloudapi/1.0.0/sessions/current", Api::kCloud, ctx);
      return {};
    });
  }

 private:
  VcdClient client_;
  Site site_;
  SubscriptionStore subscriptions_;
  NetworkService networks_;
  ComputeService compute_;
  EdgeService edge_;
};

plugin::CreateResult create(const plugin::FactoryArgs& args) {
  auto config = parseConfig(args.configJson);
  if (!config.ok()) return config.error();
  // No call to Cloud Director here: a cell that is down when the daemon starts must not keep the
  // cloud host from attaching. checkHealth() and the first call log in.
  return std::unique_ptr<plugin::CloudHostPlugin>(
      std::make_unique<CloudDirectorPlugin>(*config, args.host));
}

}  // namespace
}  // namespace warmsite::clouddirector

WARMSITE_PLUGIN("clouddirector", "1.0.0", warmsite::clouddirector::create)
