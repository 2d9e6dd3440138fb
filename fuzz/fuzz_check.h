#pragma once
// A property a fuzz target checks: when it does not hold, libFuzzer keeps the input as a crash.

namespace warmsite::fuzz {

inline void check(bool holds) {
  if (!holds) __builtin_trap();
}

}  // namespace warmsite::fuzz
