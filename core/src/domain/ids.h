#pragma once
// Warmsite ids: a short kind prefix and 128 random bits, e.g. "tnt-1f0c...". Random rather than
// sequential so ids never collide across daemons sharing a database and never leak counts.

#include <string>
#include <string_view>

namespace warmsite::domain {

std::string newId(std::string_view prefix);

}  // namespace warmsite::domain
