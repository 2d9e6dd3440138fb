#include "api/json_mapping.h"

#include <algorithm>
#include <cctype>

namespace warmsite::api {

namespace {

nlohmann::json limit(const std::optional<std::uint64_t>& value) {
  return value ? nlohmann::json(*value) : nlohmann::json("unlimited");
}

nlohmann::json optionalTime(const std::optional<std::int64_t>& value) {
  return value ? nlohmann::json(*value) : nlohmann::json(nullptr);
}

nlohmann::json optionalText(const std::string& value) {
  return value.empty() ? nlohmann::json(nullptr) : nlohmann::json(value);
}

bool looksSecret(std::string key) {
  std::transform(key.begin(), key.end(), key.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  for (const char* marker : {"password", "secret", "token", "key", "credential"}) {
    if (key.find(marker) != std::string::npos) return true;
  }
  return false;
}

}  // namespace

nlohmann::json redactSecrets(const nlohmann::json& config) {
  if (config.is_object()) {
    auto out = nlohmann::json::object();
    for (const auto& [key, value] : config.items()) {
      out[key] = looksSecret(key) && !value.is_object() ? nlohmann::json("********")
                                                        : redactSecrets(value);
    }
    return out;
  }
  if (config.is_array()) {
    auto out = nlohmann::json::array();
    for (const auto& item : config) out.push_back(redactSecrets(item));
    return out;
  }
  return config;
}

nlohmann::json toJson(const domain::Tenant& tenant) {
  return {{"id", tenant.id},
          {"name", tenant.name},
          {"description", tenant.description},
          {"enabled", tenant.enabled},
          {"lease_expires_at", optionalTime(tenant.leaseExpiresUnix)},
          {"max_concurrent_tasks", tenant.maxConcurrentTasks},
          {"created_at", tenant.createdUnix}};
}

nlohmann::json toJson(const domain::Account& account) {
  return {{"id", account.id},
          {"name", account.name},
          {"role", domain::toString(account.role)},
          {"tenant_id", optionalText(account.tenantId)},
          {"locked_until", optionalTime(account.lockedUntilUnix)},
          {"created_at", account.createdUnix}};
}

nlohmann::json toJson(const domain::CloudHost& host, const nlohmann::json& status) {
  nlohmann::json config = nlohmann::json::parse(host.configJson, nullptr, false);
  return {{"id", host.id},
          {"name", host.name},
          {"plugin", host.plugin},
          {"config", config.is_discarded() ? nlohmann::json(nullptr) : redactSecrets(config)},
          {"status", status},
          {"created_at", host.createdUnix}};
}

nlohmann::json toJson(const domain::VlanRange& range) {
  return {{"id", range.id},
          {"cloud_host_id", range.cloudHostId},
          {"first", range.first},
          {"last", range.last},
          {"internet", range.internet}};
}

nlohmann::json toJson(const domain::PublicIp& ip) {
  return {{"address", ip.address},
          {"family", ip.family == 4 ? "ipv4" : "ipv6"},
          {"tenant_id", optionalText(ip.tenantId)},
          {"subscription_id", optionalText(ip.subscriptionId)}};
}

nlohmann::json toJson(const domain::HardwarePlan& plan) {
  auto storages = nlohmann::json::array();
  for (const auto& storage : plan.storages) {
    storages.push_back({{"name", storage.name},
                        {"backend_storage", storage.backendStorage},
                        {"quota_gb", storage.quotaGb}});
  }
  return {{"id", plan.id},
          {"name", plan.name},
          {"description", plan.description},
          {"cloud_host_id", plan.cloudHostId},
          {"cpu_mhz", limit(plan.cpuMhz)},
          {"memory_mb", limit(plan.memoryMb)},
          {"storages", storages},
          {"networks_with_internet", plan.networksWithInternet},
          {"networks_without_internet", plan.networksWithoutInternet},
          {"created_at", plan.createdUnix},
          {"updated_at", plan.updatedUnix}};
}

nlohmann::json toJson(const domain::Subscription& subscription) {
  auto networks = nlohmann::json::array();
  for (const auto& network : subscription.networks) {
    networks.push_back({{"id", network.networkId},
                        {"name", network.name},
                        {"vlan_id", network.vlanId},
                        {"internet", network.internet}});
  }
  return {{"id", subscription.id},
          {"tenant_id", subscription.tenantId},
          {"plan_id", subscription.planId},
          {"cloud_host_id", subscription.cloudHostId},
          {"state", domain::toString(subscription.state)},
          {"error", optionalText(subscription.error)},
          {"public_ip_count", subscription.publicIpCount},
          {"public_ips", subscription.publicIps},
          {"networks", networks},
          {"created_at", subscription.createdUnix}};
}

nlohmann::json toJson(const domain::Task& task) {
  return {{"id", task.id},
          {"tenant_id", optionalText(task.tenantId)},
          {"kind", task.kind},
          {"target_id", task.targetId},
          {"state", domain::toString(task.state)},
          {"progress", task.progress},
          {"error", optionalText(task.error)},
          {"created_by", task.createdBy},
          {"created_at", task.createdUnix},
          {"started_at", optionalTime(task.startedUnix)},
          {"finished_at", optionalTime(task.finishedUnix)}};
}

nlohmann::json toJson(const domain::AuditEntry& entry) {
  return {{"id", entry.id},
          {"at_ms", entry.atUnixMs},
          {"actor", entry.actor},
          {"actor_role", entry.actorRole},
          {"tenant_id", optionalText(entry.tenantId)},
          {"method", entry.method},
          {"path", entry.path},
          {"status", entry.status},
          {"result", entry.result},
          {"message", entry.message}};
}

nlohmann::json toJson(const security::CertificateInfo& info) {
  return {{"subject", info.subject},
          {"issuer", info.issuer},
          {"subject_alt_names", info.subjectAltNames},
          {"thumbprint_sha256", info.thumbprintSha256},
          {"serial", info.serial},
          {"not_before", info.notBeforeUnix},
          {"not_after", info.notAfterUnix},
          {"self_signed", info.selfSigned}};
}

nlohmann::json toJson(const domain::Replica& replica) {
  auto disks = nlohmann::json::array();
  for (const auto& disk : replica.disks) {
    disks.push_back({{"id", disk.diskId}, {"storage", disk.storage}, {"size_gb", disk.sizeGb}});
  }
  auto nics = nlohmann::json::array();
  for (const auto& nic : replica.nics) {
    nics.push_back({{"id", nic.nicId},
                    {"network_id", nic.networkId},
                    {"mac", optionalText(nic.mac)},
                    {"ip_address", optionalText(nic.ipAddress)}});
  }
  return {{"id", replica.id},
          {"tenant_id", replica.tenantId},
          {"subscription_id", replica.subscriptionId},
          {"name", replica.name},
          {"vcpus", replica.vcpus},
          {"cpu_mhz", replica.cpuMhz},
          {"memory_mb", replica.memoryMb},
          {"disks", disks},
          {"nics", nics},
          {"state", domain::toString(replica.state)},
          {"deleting", replica.deleting},
          {"error", optionalText(replica.error)},
          {"created_at", replica.createdUnix}};
}

nlohmann::json toJson(const domain::RestorePoint& point) {
  return {{"id", point.id},
          {"replica_id", point.replicaId},
          {"description", point.description},
          {"created_at", point.createdUnix},
          {"origin", point.origin},
          {"data_bytes", point.dataBytes}};
}

nlohmann::json toJson(const domain::ReplicationJob& job) {
  return {{"id", job.id},
          {"tenant_id", job.tenantId},
          {"name", job.name},
          {"replica_ids", job.replicaIds},
          {"schedule_minutes",
           job.scheduleMinutes ? nlohmann::json(*job.scheduleMinutes) : nlohmann::json()},
          {"retention", job.retention},
          {"created_at", job.createdUnix}};
}

nlohmann::json toJson(const domain::ReplicationRun& run) {
  auto disks = nlohmann::json::array();
  std::uint64_t changed = 0, wire = 0;
  for (const auto& disk : run.disks) {
    disks.push_back({{"disk_id", disk.diskId},
                     {"size_bytes", disk.sizeBytes},
                     {"changed_bytes", disk.changedBytes},
                     {"zero_bytes", disk.zeroBytes},
                     {"bytes_sent", disk.wireBytes},
                     {"extents", disk.extents},
                     {"duration_ms", disk.durationMs}});
    changed += disk.changedBytes;
    wire += disk.wireBytes;
  }
  return {{"id", run.id},
          {"tenant_id", run.tenantId},
          {"replica_id", run.replicaId},
          {"job_id", run.jobId.empty() ? nlohmann::json() : nlohmann::json(run.jobId)},
          {"kind", run.kind},
          {"reason", run.reason},
          {"state", domain::toString(run.state)},
          {"result", run.state == domain::ReplicationRunState::kCommitted ? "success"
                     : run.state == domain::ReplicationRunState::kFailed  ? "failed"
                                                                          : "in_progress"},
          {"base_restore_point_id", run.baseRestorePointId},
          {"restore_point_id", run.restorePointId},
          {"changed_bytes", changed},
          {"bytes_sent", wire},
          {"disks", disks},
          {"error", run.error},
          {"started_at", run.startedUnix},
          {"finished_at", run.finishedUnix ? nlohmann::json(*run.finishedUnix) : nlohmann::json()},
          {"duration_s", run.finishedUnix ? nlohmann::json(*run.finishedUnix - run.startedUnix)
                                          : nlohmann::json()}};
}

nlohmann::json toJson(const domain::FailoverPlan& plan) {
  auto members = nlohmann::json::array();
  for (const auto& member : plan.members) {
    auto rules = nlohmann::json::array();
    for (const auto& rule : member.publicIpRules) {
      rules.push_back({{"id", rule.id},
                       {"public_ip", rule.publicIp},
                       {"public_port", rule.publicPort},
                       {"protocol", rule.protocol},
                       {"target_ip", rule.targetIp},
                       {"target_port", rule.targetPort},
                       {"description", rule.description}});
    }
    members.push_back({{"replica_id", member.replicaId},
                       {"boot_delay_s", member.bootDelaySeconds},
                       {"public_ip_rules", rules}});
  }
  auto script = [](const domain::PlanScript& s) {
    return s.command.empty()
               ? nlohmann::json(nullptr)
               : nlohmann::json{{"command", s.command}, {"timeout_s", s.timeoutSeconds}};
  };
  return {{"id", plan.id},
          {"tenant_id", plan.tenantId},
          {"name", plan.name},
          {"description", plan.description},
          {"parallelism", plan.parallelism},
          {"members", members},
          {"pre_script", script(plan.preScript)},
          {"post_script", script(plan.postScript)},
          {"state", domain::toString(plan.state)},
          {"last_session_id", optionalText(plan.lastSessionId)},
          {"created_at", plan.createdUnix}};
}

nlohmann::json toSummaryJson(const domain::FailoverSession& session) {
  std::size_t finished = 0;
  for (const auto& vm : session.vms) {
    if (vm.state == domain::SessionVmState::kDone || vm.state == domain::SessionVmState::kFailed ||
        vm.state == domain::SessionVmState::kSkipped) {
      ++finished;
    }
  }
  return {{"id", session.id},
          {"tenant_id", session.tenantId},
          {"plan_id", optionalText(session.planId)},
          {"task_id", session.taskId},
          {"kind", domain::toString(session.kind)},
          {"state", domain::toString(session.state)},
          {"progress", session.vms.empty() ? 100 : 100 * finished / session.vms.size()},
          {"vms_total", session.vms.size()},
          {"vms_finished", finished},
          {"error", optionalText(session.error)},
          {"script_output", optionalText(session.scriptOutput)},
          {"started_by", session.startedBy},
          {"started_at", session.startedUnix},
          {"finished_at", optionalTime(session.finishedUnix)}};
}

nlohmann::json toJson(const domain::FailoverSession& session) {
  auto vms = nlohmann::json::array();
  for (const auto& vm : session.vms) {
    vms.push_back({{"replica_id", vm.replicaId},
                   {"position", vm.position},
                   {"state", domain::toString(vm.state)},
                   {"step", optionalText(vm.step)},
                   {"attempts", vm.attempts},
                   {"restore_point_id", optionalText(vm.restorePointId)},
                   {"error", optionalText(vm.error)},
                   {"started_at", optionalTime(vm.startedUnix)},
                   {"finished_at", optionalTime(vm.finishedUnix)}});
  }
  auto json = toSummaryJson(session);
  json["vms"] = std::move(vms);
  return json;
}

}  // namespace warmsite::api
