#pragma once
// Base64 (standard and URL-safe without padding) and hex, through OpenSSL's encoder.

#include <optional>
#include <string>
#include <string_view>

namespace warmsite::security {

std::string base64Encode(std::string_view bytes);
std::optional<std::string> base64Decode(std::string_view text);
std::string base64UrlEncode(std::string_view bytes);  // no padding: tokens in headers and URLs
std::string hexEncode(std::string_view bytes, char separator = '\0');
std::string sha256(std::string_view bytes);  // raw 32 bytes
std::string randomBytes(std::size_t count);  // OpenSSL RAND_bytes; throws if it fails

}  // namespace warmsite::security
