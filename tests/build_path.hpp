#pragma once
// A build-tree path compiled into a test or benchmark, unless the
// environment variable of that name says otherwise: a build tree carried to
// another machine (scripts/kvm-verify) is not where it was built.
#include <cstdlib>
#include <string>

namespace qft {

inline std::string build_path(const char* env_name, const char* compiled_in) {
    const char* v = std::getenv(env_name);
    return v && *v ? v : compiled_in;
}

} // namespace qft
