// Bad requests get a 4xx JSON error that says what was wrong, and change nothing: the store is
// dumped before and after every one.
#include <gmock/gmock.h>

#include "tests/api/api_fixture.h"

namespace warmsite::apitest {
namespace {

using ::testing::HasSubstr;

struct BadRequest {
  std::string method;
  std::string path;  // {host}, {plan}, {tenant}, {range} are replaced by real ids
  std::string body;
  int status;
  std::string messagePart;
};

class BadInputTest : public ApiTest {
 protected:
  void SetUp() override {
    ApiTest::SetUp();
    sp_ = std::make_unique<client::ApiClient>(admin());
    ids_["{host}"] = cloudHost(*sp_);
    vlanRange(*sp_, ids_["{host}"], 100, 199, true);
    ids_["{range}"] = sp_->get("/api/v1/cloud-hosts/" + ids_["{host}"] + "/vlan-ranges")
                          .json()["ranges"][0]["id"];
    publicIps(*sp_, {"203.0.113.1-203.0.113.9"});
    ids_["{plan}"] = plan(*sp_, ids_["{host}"], "Silver", 1, 0);
    ids_["{tenant}"] = tenant(*sp_, "Acme");
  }

  std::string resolve(std::string text) {
    for (const auto& [key, value] : ids_) {
      for (auto at = text.find(key); at != std::string::npos; at = text.find(key))
        text.replace(at, key.size(), value);
    }
    return text;
  }

  std::unique_ptr<client::ApiClient> sp_;
  std::map<std::string, std::string> ids_;
};

TEST_F(BadInputTest, EveryBadRequestIsRefusedClearlyAndChangesNothing) {
  const std::string storage =
      R"([{"name": "gold", "backend_storage": "datastore1", "quota_gb": 10}])";
  const std::vector<BadRequest> cases = {
      // malformed bodies
      {"POST", "/api/v1/tenants", "{\"name\": \"x\",", 400, "not valid JSON"},
      {"POST", "/api/v1/tenants", "[1, 2]", 400, "JSON object"},
      // a number beyond a double: the parser reports it apart from syntax errors
      {"POST", "/api/v1/tenants",
       R"({"name": "Globex", "password": "long-enough", "max_concurrent_tasks": 39E2927})", 400,
       "number overflow"},
      {"POST", "/api/v1/tenants", "", 400, "JSON object body"},
      // bytes that are not UTF-8: the parse error quotes them, the answer must still be JSON
      {"POST", "/api/v1/tenants", "{\"name\": \"Glob\xff\xfe\", \"password\": \"long-enough\"}",
       400, "not valid JSON"},
      {"POST", "/api/v1/auth/login", "{\"name\": \"admin\", \"password\": \"\xff\xff\"}", 400,
       "not valid JSON"},
      // wrong types and missing fields
      {"POST", "/api/v1/tenants", R"({"name": 42, "password": "long-enough"})", 400,
       "\"name\" must be a string"},
      {"POST", "/api/v1/tenants", R"({"name": "Globex"})", 400, "\"password\""},
      {"POST", "/api/v1/tenants",
       R"({"name": "Globex", "password": "long-enough", "colour": "red"})", 400,
       "unknown field \"colour\""},
      {"POST", "/api/v1/tenants", R"({"name": "Glo/bex", "password": "long-enough"})", 400,
       "contains '/'"},
      {"POST", "/api/v1/tenants",
       "{\"name\": \"" + std::string(129, 'n') + "\", \"password\": \"long-enough\"}", 400,
       "1-128 characters"},
      {"POST", "/api/v1/tenants", R"({"name": "Globex", "password": "short"})", 400, "8-256"},
      {"POST", "/api/v1/tenants", R"({"name": "acme", "password": "long-enough"})", 409,
       "already exists"},
      {"POST", "/api/v1/tenants",
       R"({"name": "Globex", "password": "long-enough", "max_concurrent_tasks": 0})", 400,
       "max_concurrent_tasks"},
      {"POST", "/api/v1/tenants",
       R"({"name": "Globex", "password": "long-enough", "enabled": "yes"})", 400, "true or false"},
      {"PATCH", "/api/v1/tenants/{tenant}", R"({"lease_expires_at": -5})", 400, "lease_expires_at"},
      {"PATCH", "/api/v1/tenants/tnt-nope", R"({"description": "x"})", 404, "not found"},
      // VLANs
      {"POST", "/api/v1/cloud-hosts/{host}/vlan-ranges", R"({"first": 0, "last": 10})", 400,
       "\"first\""},
      {"POST", "/api/v1/cloud-hosts/{host}/vlan-ranges", R"({"first": 10, "last": 4095})", 400,
       "\"last\""},
      {"POST", "/api/v1/cloud-hosts/{host}/vlan-ranges", R"({"first": 300, "last": 200})", 400,
       "ends before"},
      {"POST", "/api/v1/cloud-hosts/{host}/vlan-ranges", R"({"first": 150, "last": 250})", 409,
       "overlaps"},
      {"POST", "/api/v1/cloud-hosts/{host}/vlan-ranges", R"({"first": 1.5, "last": 2})", 400,
       "integer"},
      {"POST", "/api/v1/cloud-hosts/ch-nope/vlan-ranges", R"({"first": 1, "last": 2})", 404,
       "not found"},
      {"PUT", "/api/v1/cloud-hosts/{host}/vlan-ranges/vr-nope", R"({"first": 1, "last": 2})", 404,
       "not found"},
      // public IPs
      {"POST", "/api/v1/public-ips", R"({"addresses": ["203.0.113.300"]})", 400,
       "not an IPv4 or IPv6 address"},
      {"POST", "/api/v1/public-ips", R"({"addresses": ["203.0.113.20-2001:db8::1"]})", 400,
       "mixes IPv4 and IPv6"},
      {"POST", "/api/v1/public-ips", R"({"addresses": ["203.0.113.30-203.0.113.20"]})", 400,
       "ends before"},
      {"POST", "/api/v1/public-ips", R"({"addresses": ["10.0.0.0/8"]})", 400,
       "not an IPv4 or IPv6 address"},
      {"POST", "/api/v1/public-ips", R"({"addresses": ["2001:db8::-2001:db8::ffff:ffff"]})", 400,
       "more than 65536"},
      {"POST", "/api/v1/public-ips", R"({"addresses": ["198.51.100.1", "198.51.100.1"]})", 400,
       "listed twice"},
      {"POST", "/api/v1/public-ips", R"({"addresses": ["198.51.100.7", "203.0.113.5"]})", 409,
       "already in the pool"},
      {"POST", "/api/v1/public-ips", R"({"addresses": []})", 400, "at least one"},
      {"DELETE", "/api/v1/public-ips/not-an-ip", "", 400, "not an IPv4"},
      // plans
      {"POST", "/api/v1/plans", R"({"name": "P", "cloud_host_id": "{host}", "storages": []})", 400,
       "storage"},
      {"POST", "/api/v1/plans",
       R"({"name": "P", "cloud_host_id": "ch-nope", "storages": )" + storage + "}", 400,
       "does not exist"},
      {"POST", "/api/v1/plans",
       R"({"name": "P", "cloud_host_id": "{host}", "cpu_mhz": "lots", "storages": )" + storage +
           "}",
       400, "\"unlimited\""},
      {"POST", "/api/v1/plans",
       R"({"name": "P", "cloud_host_id": "{host}", "cpu_mhz": 0, "storages": )" + storage + "}",
       400, "cpu_mhz"},
      {"POST", "/api/v1/plans",
       R"({"name": "P", "cloud_host_id": "{host}", "storages": [{"name": "a", "backend_storage": "d", "quota_gb": 0}]})",
       400, "storages[0].quota_gb"},
      {"POST", "/api/v1/plans",
       R"({"name": "P", "cloud_host_id": "{host}", "storages": [{"name": "a", "backend_storage": "d", "quota_gb": 1}, {"name": "a", "backend_storage": "d", "quota_gb": 1}]})",
       400, "used twice"},
      {"POST", "/api/v1/plans",
       R"({"name": "P", "cloud_host_id": "{host}", "networks_with_internet": 65, "storages": )" +
           storage + "}",
       400, "networks_with_internet"},
      {"POST", "/api/v1/plans",
       R"({"name": "silver", "cloud_host_id": "{host}", "storages": )" + storage + "}", 409,
       "plan"},
      {"PATCH", "/api/v1/plans/{plan}", R"({"networks_with_internet": 0})", 400,
       "cannot be reduced"},
      {"PATCH", "/api/v1/plans/{plan}", R"({"cloud_host_id": "ch-other"})", 400, "cannot change"},
      // subscriptions
      {"POST", "/api/v1/subscriptions", R"({"tenant_id": "tnt-nope", "plan_id": "{plan}"})", 400,
       "does not exist"},
      {"POST", "/api/v1/subscriptions",
       R"({"tenant_id": "{tenant}", "plan_id": "{plan}", "public_ip_count": 10000})", 400,
       "public_ip_count"},
      {"POST", "/api/v1/subscriptions",
       R"({"tenant_id": "{tenant}", "plan_id": "{plan}", "public_ip_count": 10})", 409, "9 free"},
      {"DELETE", "/api/v1/subscriptions/sub-nope", "", 404, "not found"},
      // cloud hosts
      {"POST", "/api/v1/cloud-hosts", R"({"name": "x", "plugin": "nope", "config": {}})", 400,
       "no plugin named"},
      {"POST", "/api/v1/cloud-hosts",
       R"({"name": "x", "plugin": "vsphere-mock", "config": {"hosts": []}})", 400, "hosts"},
      {"POST", "/api/v1/cloud-hosts", R"({"name": "x", "plugin": "vsphere-mock", "config": "{}"})",
       400, "JSON object"},
      {"DELETE", "/api/v1/cloud-hosts/{host}", "", 409, "hardware plan"},
      // certificate
      {"PUT", "/api/v1/certificate",
       R"({"format": "pem", "certificate": "junk", "private_key": "junk"})", 422, "not PEM"},
      {"PUT", "/api/v1/certificate", R"({"format": "pkcs12", "data_base64": "!!!"})", 400,
       "base64"},
      {"PUT", "/api/v1/certificate", R"({"format": "der"})", 400, "\"pem\" or \"pkcs12\""},
      // service
      {"PUT", "/api/v1/service/maintenance", "{\"message\": \"" + std::string(400, 'm') + "\"}",
       400, "message"},
      {"GET", "/api/v1/audit?limit=0", "", 400, "limit"},
      {"GET", "/api/v1/audit?before_id=x", "", 400, "before_id"},
      // routing
      {"GET", "/api/v1/no-such-thing", "", 404, "no route"},
      {"DELETE", "/api/v1/tenants", "", 405, "allowed: GET, POST"},
      {"GET", "/api/v1/tenants/%zz", "", 400, "percent-escape"},
  };
  for (const auto& bad : cases) {
    const auto before = dumpStore();
    auto response = sp_->request(bad.method, resolve(bad.path), resolve(bad.body));
    const auto where = bad.method + " " + bad.path + " " + bad.body.substr(0, 120);
    EXPECT_EQ(response.status, bad.status) << where << "\n" << response.body;
    auto json = response.json();
    ASSERT_TRUE(json.is_object()) << where << ": not a JSON error body: " << response.body;
    EXPECT_TRUE(json.contains("code") && json.contains("message") && json.contains("details"))
        << response.body;
    EXPECT_THAT(json.value("message", ""), HasSubstr(bad.messagePart)) << where;
    EXPECT_EQ(dumpStore(), before) << where << " changed the store";
  }
}

}  // namespace
}  // namespace warmsite::apitest
