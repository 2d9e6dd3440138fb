#include "tests/conformance/plugin_conformance.h"

namespace warmsite::conformance {
namespace {

// Each test gets its own simulated vCenter, named after the test.
PluginUnderTest vsphereMock() {
  return {"VsphereMock", std::filesystem::path(WARMSITE_PLUGIN_DIR) / "vsphere-mock.so",
          [](const std::string& instance) {
            return R"({"vcenter": ")" + instance +
                   R"(", "datastores": [{"name": "ds-01", "capacity_gb": 1000}]})";
          },
          "ds-01", nullptr};
}

INSTANTIATE_TEST_SUITE_P(VsphereMock, PluginConformance, ::testing::Values(vsphereMock()),
                         conformanceName);

}  // namespace
}  // namespace warmsite::conformance
