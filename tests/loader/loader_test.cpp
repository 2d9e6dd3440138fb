// Each way a plugin library can be bad gives its own cause and a message naming the file, and a
// catalog keeps the good plugins when some are bad.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "plugins/host_services.h"
#include "plugins/plugin_catalog.h"
#include "plugins/plugin_loader.h"

namespace warmsite::plugins {
namespace {

using ::testing::HasSubstr;

std::filesystem::path fixture(const std::string& name) {
  return std::filesystem::path(WARMSITE_FIXTURE_PLUGIN_DIR) / (name + ".so");
}
std::filesystem::path vsphereMock() {
  return std::filesystem::path(WARMSITE_PLUGIN_DIR) / "vsphere-mock.so";
}

PluginError loadFailure(const std::filesystem::path& path) {
  auto result = loadPluginLibrary(path);
  EXPECT_FALSE(result.ok()) << path << " loaded but should not";
  if (result.ok()) return {};
  EXPECT_THAT(result.error().message, HasSubstr(path.string()));
  return result.error();
}

PluginError createFailure(const std::filesystem::path& path, std::string_view config = "{}") {
  auto library = loadPluginLibrary(path);
  EXPECT_TRUE(library.ok()) << (library.ok() ? "" : library.error().message);
  if (!library.ok()) return {};
  CloudHostServices host("loader-test");
  auto created = library->create(config, host);
  EXPECT_FALSE(created.ok()) << path << " created an object but should not";
  if (created.ok()) return {};
  EXPECT_THAT(created.error().message, HasSubstr(path.string()));
  return created.error();
}

TEST(PluginLoader, MissingFileIsNamed) {
  const auto error = loadFailure(fixture("not_there"));
  EXPECT_EQ(error.cause, PluginFailure::kFileMissing);
  EXPECT_THAT(error.message, HasSubstr("no such file"));
}

TEST(PluginLoader, RelativePathIsRefused) {
  auto result = loadPluginLibrary("plugins/vsphere-mock.so");
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().cause, PluginFailure::kRelativePath);
}

TEST(PluginLoader, TextFileIsNotASharedLibrary) {
  const auto error = loadFailure(fixture("not_a_library"));
  EXPECT_EQ(error.cause, PluginFailure::kNotSharedLibrary);
  EXPECT_THAT(error.message, HasSubstr("dlerror"));  // the loader's own text is kept
}

TEST(PluginLoader, MissingHandshakeSymbol) {
  const auto error = loadFailure(fixture("no_handshake"));
  EXPECT_EQ(error.cause, PluginFailure::kNoHandshake);
  EXPECT_THAT(error.message, HasSubstr("warmsite_plugin_handshake"));
}

TEST(PluginLoader, WrongAbiMajor) {
  const auto error = loadFailure(fixture("wrong_major"));
  EXPECT_EQ(error.cause, PluginFailure::kAbiMajorMismatch);
  EXPECT_THAT(error.message,
              HasSubstr("built for plugin ABI " + std::to_string(plugin::kAbiMajor + 1) + "." +
                        std::to_string(plugin::kAbiMinor)));
}

TEST(PluginLoader, NewerAbiMinor) {
  const auto error = loadFailure(fixture("minor_too_new"));
  EXPECT_EQ(error.cause, PluginFailure::kAbiMinorTooNew);
}

TEST(PluginLoader, OtherToolchainFingerprint) {
  const auto error = loadFailure(fixture("fingerprint_mismatch"));
  EXPECT_EQ(error.cause, PluginFailure::kFingerprintMismatch);
  EXPECT_THAT(error.message, HasSubstr("clang 99"));
}

TEST(PluginLoader, HandshakeThatThrows) {
  const auto error = loadFailure(fixture("handshake_throws"));
  EXPECT_EQ(error.cause, PluginFailure::kHandshakeThrew);
  EXPECT_THAT(error.message, HasSubstr("fixture handshake exploded"));
}

TEST(PluginLoader, UndefinedSymbolFailsAtLoadNotAtFirstCall) {
  const auto error = loadFailure(fixture("undefined_symbol"));
  EXPECT_EQ(error.cause, PluginFailure::kUnresolvedSymbol);
  EXPECT_THAT(error.message, HasSubstr("warmsite_fixture_symbol_nobody_defines"));
}

TEST(PluginLoader, FactoryReturningNull) {
  const auto error = createFailure(fixture("factory_returns_null"));
  EXPECT_EQ(error.cause, PluginFailure::kFactoryReturnedNull);
}

TEST(PluginLoader, FactoryThatThrows) {
  const auto error = createFailure(fixture("factory_throws"));
  EXPECT_EQ(error.cause, PluginFailure::kFactoryThrew);
  EXPECT_THAT(error.message, HasSubstr("fixture factory exploded"));
}

TEST(PluginLoader, CapabilitiesMustMatchTheObject) {
  const auto error = createFailure(fixture("capability_mismatch"));
  EXPECT_EQ(error.cause, PluginFailure::kCapabilityMismatch);
  EXPECT_THAT(error.message, HasSubstr("compute"));
}

TEST(PluginLoader, ConfigRejectedCarriesThePluginsReason) {
  const auto error = createFailure(vsphereMock(), R"({"datastores": "big"})");
  EXPECT_EQ(error.cause, PluginFailure::kConfigRejected);
  EXPECT_EQ(error.pluginError.code, plugin::ErrorCode::kInvalidArgument);
  EXPECT_THAT(error.message, HasSubstr("datastores"));
}

TEST(PluginLoader, ConfigThatIsNotJson) {
  const auto error = createFailure(vsphereMock(), "{not json");
  EXPECT_EQ(error.cause, PluginFailure::kConfigRejected);
}

TEST(PluginLoader, GoodPluginLoadsAndAnnouncesItself) {
  auto library = loadPluginLibrary(vsphereMock());
  ASSERT_TRUE(library.ok()) << library.error().message;
  EXPECT_EQ(library->name(), "vsphere-mock");
  EXPECT_EQ(library->abiMinor(), plugin::kAbiMinor);
  CloudHostServices host("loader-test");
  auto object = library->create(R"({"vcenter": "loader-good"})", host);
  ASSERT_TRUE(object.ok()) << object.error().message;
  EXPECT_TRUE((*object)->capabilities().compute);
  EXPECT_TRUE((*object)->checkHealth({}).ok());
}

TEST(PluginCatalog, KeepsGoingWithTheGoodPluginsWhenSomeAreBad) {
  const auto scratch = std::filesystem::path(WARMSITE_BINARY_DIR) / "loader-test-catalog";
  std::filesystem::remove_all(scratch);
  std::filesystem::create_directories(scratch);
  for (const char* bad :
       {"no_handshake", "wrong_major", "handshake_throws", "undefined_symbol", "not_a_library"}) {
    std::filesystem::copy_file(fixture(bad), scratch / (std::string(bad) + ".so"));
  }
  std::filesystem::copy_file(vsphereMock(), scratch / "vsphere-mock.so");

  PluginCatalog catalog;
  catalog.loadDirectory(scratch);
  ASSERT_NE(catalog.find("vsphere-mock"), nullptr);
  EXPECT_EQ(catalog.libraries().size(), 1u);
  EXPECT_EQ(catalog.failures().size(), 5u);

  // The same plugin a second time under another file name is a duplicate, not a second plugin.
  std::filesystem::copy_file(vsphereMock(), scratch / "vsphere-mock-copy.so");
  EXPECT_FALSE(catalog.loadFile(scratch / "vsphere-mock-copy.so"));
  EXPECT_EQ(catalog.failures().back().cause, PluginFailure::kDuplicateName);
  std::filesystem::remove_all(scratch);
}

}  // namespace
}  // namespace warmsite::plugins
