// Every route against every role: anonymous callers, tenant A (on its own objects and on tenant
// B's), and an SP administrator. A tenant never learns that another tenant's object exists.
#include <gtest/gtest.h>

#include "tests/api/api_fixture.h"

namespace warmsite::apitest {
namespace {

class AuthorizationTest : public ApiTest {
 protected:
  struct TenantObjects {
    std::string tenant, plan, subscription, task, network, replica, point, failoverPlan, session,
        job;
  };

  void SetUp() override {
    ApiTest::SetUp();
    auto sp = admin();
    host_ = cloudHost(sp);
    vlanRange(sp, host_, 100, 199, true);
    vlanRange(sp, host_, 200, 299, false);
    publicIps(sp, {"203.0.113.1-203.0.113.9"});
    for (auto* objects : {&a_, &b_}) {
      const bool isA = objects == &a_;
      objects->plan = plan(sp, host_, isA ? "Plan A" : "Plan B");
      objects->tenant = tenant(sp, isA ? "Tenant A" : "Tenant B");
      objects->subscription = subscribe(sp, objects->tenant, objects->plan, 1);
      objects->task = sp.get("/api/v1/tasks?limit=1").json()[0]["id"];
      objects->network =
          sp.get("/api/v1/subscriptions/" + objects->subscription).json()["networks"][0]["id"];
      auto replica =
          sp.post("/api/v1/replicas", {{"subscription_id", objects->subscription},
                                       {"name", "web"},
                                       {"vcpus", 1},
                                       {"cpu_mhz", 1000},
                                       {"memory_mb", 512},
                                       {"disks", {{{"storage", "gold"}, {"size_gb", 1}}}},
                                       {"nics", {{{"network_id", objects->network}}}}});
      ASSERT_STATUS(replica, 202);
      objects->replica = replica.json()["replica"]["id"];
      waitTask(sp, replica.json()["task"]["id"]);
      auto point = sp.post("/api/v1/replicas/" + objects->replica + "/restore-points",
                           nlohmann::json::object());
      ASSERT_STATUS(point, 202);
      objects->point = point.json()["restore_point_id"];
      waitTask(sp, point.json()["task"]["id"]);
      auto plan = sp.post("/api/v1/failover-plans",
                          {{"tenant_id", objects->tenant},
                           {"name", "DR"},
                           {"members", {{{"replica_id", objects->replica}, {"boot_delay_s", 0}}}}});
      ASSERT_STATUS(plan, 201);
      objects->failoverPlan = plan.json()["id"];
      auto test = sp.post("/api/v1/failover-plans/" + objects->failoverPlan + "/test-failover",
                          nlohmann::json::object());
      ASSERT_STATUS(test, 202);
      objects->session = test.json()["session"]["id"];
      waitTask(sp, test.json()["task_id"]);
      auto job = sp.post("/api/v1/replication-jobs?tenant_id=" + objects->tenant,
                         {{"name", "nightly"}, {"replica_ids", {objects->replica}}});
      ASSERT_STATUS(job, 201);
      objects->job = job.json()["id"];
    }
    range_ = sp.get("/api/v1/cloud-hosts/" + host_ + "/vlan-ranges").json()["ranges"][0]["id"];
    account_ = sp.get("/api/v1/accounts").json()[0]["id"];
  }

  // The pattern with its parameters filled from `objects`, or with ids that exist nowhere.
  std::string fill(const std::string& pattern, const TenantObjects* objects) const {
    std::string path;
    std::string previous;
    std::size_t start = 1;
    while (start <= pattern.size()) {
      const auto slash = pattern.find('/', start);
      const auto end = slash == std::string::npos ? pattern.size() : slash;
      std::string segment = pattern.substr(start, end - start);
      if (segment.front() == '{') {
        if (!objects) {
          segment = segment == "{address}" ? "198.51.100.99" : "x-missing";
        } else if (previous == "tenants") {
          segment = objects->tenant;
        } else if (previous == "subscriptions") {
          segment = objects->subscription;
        } else if (previous == "tasks") {
          segment = objects->task;
        } else if (previous == "plans") {
          segment = objects->plan;
        } else if (previous == "cloud-hosts") {
          segment = host_;
        } else if (previous == "vlan-ranges") {
          segment = range_;
        } else if (previous == "replicas") {
          segment = objects->replica;
        } else if (previous == "restore-points") {
          segment = objects->point;
        } else if (previous == "failover-plans") {
          segment = objects->failoverPlan;
        } else if (previous == "replication-jobs") {
          segment = objects->job;
        } else if (previous == "sessions") {
          segment = objects->session;
        } else if (previous == "networks") {
          segment = objects->network;
        } else if (previous == "accounts") {
          segment = account_;
        } else if (previous == "public-ips") {
          segment = "203.0.113.1";
        } else {
          ADD_FAILURE() << "no object for " << segment << " after " << previous << " in "
                        << pattern;
        }
      }
      path += "/" + segment;
      previous = segment;
      start = end + 1;
    }
    return path;
  }

  std::string host_, range_, account_;
  TenantObjects a_, b_;
};

TEST_F(AuthorizationTest, EveryRouteAgainstEveryRole) {
  const auto& routes = orchestrator_->api().router().routes();
  ASSERT_GT(routes.size(), 30u);
  auto anonymous = client();
  auto tenantA = client("Tenant A", "tenant-pass-1");
  auto sp = admin();
  int checked = 0;
  for (const auto& route : routes) {
    const bool logout = route.pattern == "/api/v1/auth/logout";
    const bool get = route.method == "GET";
    const std::string where = route.method + " " + route.pattern;

    const auto own = fill(route.pattern, &a_);
    auto asAnonymous = anonymous.request(route.method, own, get ? "" : "{}");
    if (route.access == api::Access::kPublic) {
      EXPECT_NE(asAnonymous.status, 401) << where;
    } else {
      EXPECT_EQ(asAnonymous.status, 401) << where << ": " << asAnonymous.body;
    }

    if (logout) continue;  // it would end the session this walk uses; auth_test covers it
    {
      // Like the SP, the tenant writes only to ids that exist nowhere (nothing changes).
      auto asTenant = get ? tenantA.get(own)
                          : tenantA.request(route.method, fill(route.pattern, nullptr), "{}");
      switch (route.access) {
        case api::Access::kProvider:
          EXPECT_EQ(asTenant.status, 403) << where << ": " << asTenant.body;
          break;
        case api::Access::kTenantOrProvider:
          if (get) {
            EXPECT_EQ(asTenant.status, 200) << where << ": " << asTenant.body;
          }
          [[fallthrough]];
        default:
          EXPECT_TRUE(asTenant.status != 401 && asTenant.status != 403)
              << where << ": " << asTenant.body;
      }
      if (route.access == api::Access::kTenantOrProvider &&
          route.pattern.find('{') != std::string::npos) {
        auto others = tenantA.request(route.method, fill(route.pattern, &b_), get ? "" : "{}");
        if (get) {
          EXPECT_EQ(others.status, 404) << where << " with tenant B's ids: " << others.body;
        } else {  // a body error may come first; existence must never show
          EXPECT_TRUE(others.status == 404 || others.status == 400)
              << where << " with tenant B's ids: " << others.body;
        }
      }
    }

    // The SP reads real objects; it writes only to ids that exist nowhere, so nothing changes.
    auto asProvider =
        get ? sp.get(own) : sp.request(route.method, fill(route.pattern, nullptr), "{}");
    if (!logout) {
      EXPECT_TRUE(asProvider.status != 401 && asProvider.status != 403)
          << where << ": " << asProvider.body;
    }
    if (get) {
      EXPECT_EQ(asProvider.status, 200) << where << ": " << asProvider.body;
    }
    ++checked;
  }
  EXPECT_EQ(checked, static_cast<int>(routes.size()) - 1);  // all but logout
  // A tenant's collection reads show its own objects only.
  for (const auto& subscription : tenantA.get("/api/v1/subscriptions").json()) {
    EXPECT_EQ(subscription["tenant_id"], a_.tenant);
  }
  for (const auto& task : tenantA.get("/api/v1/tasks").json())
    EXPECT_EQ(task["tenant_id"], a_.tenant);
}

}  // namespace
}  // namespace warmsite::apitest
