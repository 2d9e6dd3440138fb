// The SP's resources and subscriptions through the API, checked against the plugin's backend.
#include <SQLiteCpp/SQLiteCpp.h>
#include <gmock/gmock.h>
#include <sys/stat.h>

#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "tests/api/api_fixture.h"

namespace warmsite::apitest {
namespace {

using ::testing::HasSubstr;

class SubscriptionTest : public ApiTest {
 protected:
  void SetUp() override {
    ApiTest::SetUp();
    sp_ = std::make_unique<client::ApiClient>(admin());
    host_ = cloudHost(*sp_);
    vlanRange(*sp_, host_, 100, 109, true);
    vlanRange(*sp_, host_, 200, 209, false);
    publicIps(*sp_, {"203.0.113.10-203.0.113.14"});
    plan_ = plan(*sp_, host_, "Silver", 2, 1);
    tenantId_ = tenant(*sp_, "Acme");
  }
  std::shared_ptr<plugin::CloudHostPlugin> plugin() {
    return orchestrator_->cloudHosts().find(host_);
  }

  std::unique_ptr<client::ApiClient> sp_;
  std::string host_, plan_, tenantId_;
};

TEST_F(SubscriptionTest, SubscribingAllocatesAndProvisionsAndTheTenantSeesItsPlan) {
  const auto id = subscribe(*sp_, tenantId_, plan_, 2);
  auto subscription = sp_->get("/api/v1/subscriptions/" + id).json();
  EXPECT_EQ(subscription["state"], "ready");
  ASSERT_EQ(subscription["networks"].size(), 3u);
  EXPECT_EQ(subscription["networks"][0]["vlan_id"], 100);
  EXPECT_EQ(subscription["networks"][1]["vlan_id"], 101);
  EXPECT_EQ(subscription["networks"][2]["vlan_id"], 200);
  EXPECT_EQ(subscription["public_ips"], nlohmann::json({"203.0.113.10", "203.0.113.11"}));

  // The backend has the tenant's resources and one network per allocated VLAN.
  auto resources = plugin()->compute()->tenantResources(id, {});
  ASSERT_TRUE(resources.ok()) << resources.error().message;
  EXPECT_EQ(resources->storages.at(0).quotaGb, 500u);
  auto networks = plugin()->network()->listNetworks({});
  ASSERT_TRUE(networks.ok());
  std::set<std::uint32_t> vlans;
  for (const auto& n : *networks) vlans.insert(n.vlanId);
  EXPECT_EQ(vlans, (std::set<std::uint32_t>{100, 101, 200}));

  // The tenant logs in and sees its plan.
  auto acme = client("Acme", "tenant-pass-1");
  auto mine = acme.get("/api/v1/subscriptions");
  ASSERT_STATUS(mine, 200);
  ASSERT_EQ(mine.json().size(), 1u);
  auto detail = acme.get("/api/v1/subscriptions/" + id);
  ASSERT_STATUS(detail, 200);
  EXPECT_EQ(detail.json()["plan"]["name"], "Silver");
  EXPECT_STATUS(acme.get("/api/v1/plans/" + plan_), 200);
}

TEST_F(SubscriptionTest, ExhaustedVlansRefuseTheWholeSubscription) {
  const auto bigPlan = plan(*sp_, host_, "Huge", 11, 0);  // the internet range has 10
  const auto before = dumpStore();
  auto response =
      sp_->post("/api/v1/subscriptions", {{"tenant_id", tenantId_}, {"plan_id", bigPlan}});
  EXPECT_STATUS(response, 409);
  EXPECT_THAT(response.json()["message"].get<std::string>(),
              HasSubstr("no free VLAN with internet"));
  EXPECT_EQ(dumpStore(), before);
}

TEST_F(SubscriptionTest, PublicIpShortageRefusesTheWholeSubscription) {
  const auto before = dumpStore();
  auto response = sp_->post("/api/v1/subscriptions",
                            {{"tenant_id", tenantId_}, {"plan_id", plan_}, {"public_ip_count", 6}});
  EXPECT_STATUS(response, 409);
  EXPECT_THAT(response.json()["message"].get<std::string>(), HasSubstr("5 free"));
  EXPECT_EQ(dumpStore(), before);
}

TEST_F(SubscriptionTest, ParallelSubscriptionsNeverShareAVlanOrAnAddress) {
  constexpr int kTenants = 8;  // 10 internet VLANs, 2 per plan: 5 fit; 5 addresses, 1 each
  std::vector<std::string> tenants;
  for (int i = 0; i < kTenants; ++i) tenants.push_back(tenant(*sp_, "Tenant " + std::to_string(i)));
  std::vector<int> statuses(kTenants);
  std::vector<std::thread> threads;
  for (int i = 0; i < kTenants; ++i) {
    threads.emplace_back([&, i] {
      auto c = admin();
      statuses[i] = c.post("/api/v1/subscriptions",
                           {{"tenant_id", tenants[i]}, {"plan_id", plan_}, {"public_ip_count", 1}})
                        .status;
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(std::count(statuses.begin(), statuses.end(), 202), 5);
  EXPECT_EQ(std::count(statuses.begin(), statuses.end(), 409), 3);

  orchestrator_->engine().waitIdle(std::chrono::seconds(30));
  std::set<int> vlans;
  std::set<std::string> addresses;
  int networks = 0;
  for (const auto& subscription : sp_->get("/api/v1/subscriptions").json()) {
    EXPECT_EQ(subscription["state"], "ready");
    for (const auto& network : subscription["networks"]) {
      vlans.insert(network["vlan_id"].get<int>());
      ++networks;
    }
    for (const auto& ip : subscription["public_ips"]) addresses.insert(ip.get<std::string>());
  }
  EXPECT_EQ(networks, 15);
  EXPECT_EQ(vlans.size(), 15u);
  EXPECT_EQ(addresses.size(), 5u);
}

TEST_F(SubscriptionTest, PlanEditsReachSubscribersAndNetworkCountsNeverShrink) {
  const auto id = subscribe(*sp_, tenantId_, plan_);
  auto shrink = sp_->request("PATCH", "/api/v1/plans/" + plan_, R"({"networks_with_internet": 1})");
  EXPECT_STATUS(shrink, 400);
  EXPECT_THAT(shrink.json()["message"].get<std::string>(), HasSubstr("cannot be reduced"));

  auto grow = sp_->request(
      "PATCH", "/api/v1/plans/" + plan_,
      R"({"networks_with_internet": 3, "storages": [{"name": "gold", "backend_storage": "datastore1", "quota_gb": 800}]})");
  ASSERT_STATUS(grow, 200);
  EXPECT_EQ(grow.json()["subscriptions_updating"], 1);
  orchestrator_->engine().waitIdle(std::chrono::seconds(30));
  auto subscription = sp_->get("/api/v1/subscriptions/" + id).json();
  EXPECT_EQ(subscription["state"], "ready");
  EXPECT_EQ(subscription["networks"].size(), 4u);
  EXPECT_EQ(plugin()->network()->listNetworks({})->size(), 4u);
  EXPECT_EQ(plugin()->compute()->tenantResources(id, {})->storages.at(0).quotaGb, 800u);
}

TEST_F(SubscriptionTest, UnsubscribeReleasesEverythingAndIsRefusedWhileReplicasExist) {
  const auto id = subscribe(*sp_, tenantId_, plan_, 2);
  {
    SQLite::Database db((dataDir_ / "warmsite.db").string(), SQLite::OPEN_READWRITE);
    db.exec(
        "INSERT INTO replicas (id, tenant_id, subscription_id, name, created_unix) VALUES "
        "('rep-x', '" +
        tenantId_ + "', '" + id + "', 'web', 0)");
  }
  auto refused = sp_->request("DELETE", "/api/v1/subscriptions/" + id);
  EXPECT_STATUS(refused, 409);
  EXPECT_THAT(refused.json()["message"].get<std::string>(), HasSubstr("replica"));
  {
    SQLite::Database db((dataDir_ / "warmsite.db").string(), SQLite::OPEN_READWRITE);
    db.exec("DELETE FROM replicas");
  }
  auto released = sp_->request("DELETE", "/api/v1/subscriptions/" + id);
  ASSERT_STATUS(released, 202);
  EXPECT_EQ(waitTask(*sp_, released.json()["task"]["id"])["state"], "succeeded");
  EXPECT_STATUS(sp_->get("/api/v1/subscriptions/" + id), 404);
  EXPECT_TRUE(plugin()->network()->listNetworks({})->empty());
  EXPECT_FALSE(plugin()->compute()->tenantResources(id, {}).ok());
  auto ranges = sp_->get("/api/v1/cloud-hosts/" + host_ + "/vlan-ranges").json();
  EXPECT_EQ(ranges["free_with_internet"], 10);
  EXPECT_EQ(sp_->get("/api/v1/public-ips").json()["free"], 5);
  // Now the plan has no subscribers and can go.
  EXPECT_STATUS(sp_->request("DELETE", "/api/v1/plans/" + plan_), 204);
}

TEST_F(SubscriptionTest, DisabledOrExpiredTenantsGetNoNewSubscription) {
  ASSERT_STATUS(
      sp_->request("PATCH", "/api/v1/tenants/" + tenantId_, R"({"lease_expires_at": 1000})"), 200);
  auto expired = sp_->post("/api/v1/subscriptions", {{"tenant_id", tenantId_}, {"plan_id", plan_}});
  EXPECT_STATUS(expired, 403);
  EXPECT_EQ(expired.json()["code"], "lease_expired");
  ASSERT_STATUS(sp_->request("PATCH", "/api/v1/tenants/" + tenantId_,
                             R"({"lease_expires_at": null, "enabled": false})"),
                200);
  auto disabled =
      sp_->post("/api/v1/subscriptions", {{"tenant_id", tenantId_}, {"plan_id", plan_}});
  EXPECT_STATUS(disabled, 403);
  EXPECT_EQ(disabled.json()["code"], "tenant_disabled");
}

TEST_F(SubscriptionTest, AFailedProvisioningSaysWhyAndCanBeRetried) {
  // A plan storage on a datastore this vCenter does not have: the plugin refuses it.
  auto bad = sp_->post(
      "/api/v1/plans",
      {{"name", "Broken"},
       {"cloud_host_id", host_},
       {"storages", {{{"name", "x"}, {"backend_storage", "no-such-ds"}, {"quota_gb", 1}}}}});
  ASSERT_STATUS(bad, 201);
  auto response =
      sp_->post("/api/v1/subscriptions", {{"tenant_id", tenantId_}, {"plan_id", bad.json()["id"]}});
  ASSERT_STATUS(response, 202);
  auto task = waitTask(*sp_, response.json()["task"]["id"]);
  EXPECT_EQ(task["state"], "failed");
  EXPECT_THAT(task["error"].get<std::string>(), HasSubstr("no-such-ds"));
  const auto id = response.json()["subscription"]["id"].get<std::string>();
  auto subscription = sp_->get("/api/v1/subscriptions/" + id).json();
  EXPECT_EQ(subscription["state"], "failed");
  EXPECT_THAT(subscription["error"].get<std::string>(), HasSubstr("no-such-ds"));
  auto retry = sp_->post("/api/v1/subscriptions/" + id + "/retry", nlohmann::json::object());
  EXPECT_STATUS(retry, 202);
  // Unsubscribing a failed subscription cleans up whatever exists and frees its allocations.
  orchestrator_->engine().waitIdle(std::chrono::seconds(30));
  auto released = sp_->request("DELETE", "/api/v1/subscriptions/" + id);
  ASSERT_STATUS(released, 202);
  EXPECT_EQ(waitTask(*sp_, released.json()["task"]["id"])["state"], "succeeded");
}

TEST_F(SubscriptionTest, VlanRangeEditsKeepAllocatedVlans) {
  subscribe(*sp_, tenantId_, plan_);  // holds 100, 101 and 200
  auto ranges = sp_->get("/api/v1/cloud-hosts/" + host_ + "/vlan-ranges").json();
  const auto rangeId = ranges["ranges"][0]["id"].get<std::string>();
  ASSERT_STATUS(sp_->request("PUT", "/api/v1/cloud-hosts/" + host_ + "/vlan-ranges/" + rangeId,
                             R"({"first": 105, "last": 109, "internet": true})"),
                200);
  ranges = sp_->get("/api/v1/cloud-hosts/" + host_ + "/vlan-ranges").json();
  EXPECT_EQ(ranges["free_with_internet"], 5);  // 105-109; 100 and 101 stay with Acme
  auto subscription = sp_->get("/api/v1/subscriptions").json()[0];
  EXPECT_EQ(subscription["networks"][0]["vlan_id"], 100);
  // An overlapping edit of the other range is refused.
  const auto otherId = ranges["ranges"][1]["id"].get<std::string>();
  EXPECT_STATUS(sp_->request("PUT", "/api/v1/cloud-hosts/" + host_ + "/vlan-ranges/" + otherId,
                             R"({"first": 108, "last": 209})"),
                409);
}

TEST_F(ApiTest, CloudHostSecretsAreEncryptedAtRestAndRedactedInResponses) {
  auto sp = admin();
  auto created = sp.post("/api/v1/cloud-hosts", {{"name", "vc"},
                                                 {"plugin", "vsphere-mock"},
                                                 {"config",
                                                  {{"vcenter", "secret-test"},
                                                   {"username", "svc-warmsite"},
                                                   {"password", "hunter2-secret"}}}});
  ASSERT_STATUS(created, 201);
  EXPECT_EQ(created.json()["config"]["password"], "********");
  EXPECT_EQ(created.json()["config"]["username"], "svc-warmsite");
  // A wrong password is the plugin's refusal, and the host keeps its working config.
  const auto id = created.json()["id"].get<std::string>();
  auto refused = sp.request(
      "PATCH", "/api/v1/cloud-hosts/" + id,
      R"({"config": {"vcenter": "secret-test", "username": "svc-warmsite", "password": "guess"}})");
  EXPECT_STATUS(refused, 502);
  EXPECT_THAT(refused.json()["message"].get<std::string>(), HasSubstr("login failed"));
  EXPECT_EQ(sp.get("/api/v1/cloud-hosts/" + id).json()["status"]["attached"], true);

  for (const char* file : {"warmsite.db", "warmsite.db-wal"}) {
    std::ifstream in(dataDir_ / file, std::ios::binary);
    std::stringstream raw;
    raw << in.rdbuf();
    EXPECT_EQ(raw.str().find("hunter2-secret"), std::string::npos)
        << "password stored in clear in " << file;
  }
  {
    SQLite::Database db((dataDir_ / "warmsite.db").string(), SQLite::OPEN_READONLY);
    const std::string stored = db.execAndGet("SELECT config_json FROM cloud_hosts").getString();
    EXPECT_TRUE(stored.starts_with("sealed:v1:")) << stored;
  }
  struct stat info {};
  ASSERT_EQ(stat((dataDir_ / "secret.key").c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);

  // Survives a restart: the same key file decrypts it.
  restart();
  auto again = admin();
  auto hosts = again.get("/api/v1/cloud-hosts").json();
  ASSERT_EQ(hosts.size(), 1u);
  EXPECT_EQ(hosts[0]["config"]["vcenter"], "secret-test");
  EXPECT_EQ(hosts[0]["config"]["password"], "********");
  EXPECT_EQ(hosts[0]["status"]["attached"], true);
}

TEST_F(ApiTest, MutatingCallsAreAuditedWithTheirResult) {
  auto sp = admin();
  tenant(sp, "Acme");
  sp.post("/api/v1/tenants",
          {{"name", "Acme"}, {"password", "other-pass-1"}});  // refused: duplicate
  client().post("/api/v1/auth/login", {{"name", "admin"}, {"password", "wrong-password"}});
  auto audit = sp.get("/api/v1/audit?limit=10");
  ASSERT_STATUS(audit, 200);
  const auto entries = audit.json()["entries"];
  ASSERT_GE(entries.size(), 3u) << audit.body;
  EXPECT_EQ(entries[0]["path"], "/api/v1/auth/login");
  EXPECT_EQ(entries[0]["actor"], "admin");
  EXPECT_EQ(entries[0]["result"], "error");
  EXPECT_EQ(entries[1]["path"], "/api/v1/tenants");
  EXPECT_EQ(entries[1]["status"], 409);
  EXPECT_EQ(entries[2]["status"], 201);
  EXPECT_EQ(entries[2]["actor"], "admin");

  auto acme = client("Acme", "tenant-pass-1");
  EXPECT_STATUS(acme.get("/api/v1/audit"), 403);
}

TEST_F(ApiTest, MaintenanceModeIsVisibleAndSetByTheProvider) {
  auto sp = admin();
  tenant(sp, "Acme");
  auto acme = client("Acme", "tenant-pass-1");
  EXPECT_STATUS(acme.request("PUT", "/api/v1/service/maintenance", R"({"enabled": true})"), 403);
  ASSERT_STATUS(sp.request("PUT", "/api/v1/service/maintenance",
                           R"({"enabled": true, "message": "back at 6"})"),
                200);
  EXPECT_EQ(acme.get("/api/v1/service/maintenance").json()["message"], "back at 6");
  EXPECT_EQ(client().get("/api/v1/health").json()["maintenance"], true);
}

}  // namespace
}  // namespace warmsite::apitest
