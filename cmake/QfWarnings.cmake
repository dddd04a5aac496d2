# One interface target that carries the project's warning and sanitizer flags,
# so every target opts in by linking it rather than by repeating flags.
add_library(qf_warnings INTERFACE)
add_library(qf::warnings ALIAS qf_warnings)
target_compile_options(qf_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast
  -Wcast-align -Wunused -Woverloaded-virtual
  -Wimplicit-fallthrough -Wformat=2
  # GCC 12 reports std::string assignments at -O3 as overlapping memcpy
  # (GCC bug 105329): a false positive in libstdc++, not in our code.
  -Wno-restrict)
if(QF_WERROR)
  target_compile_options(qf_warnings INTERFACE -Werror)
endif()
if(QF_SANITIZE)
  target_compile_options(qf_warnings INTERFACE -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  target_link_options(qf_warnings INTERFACE -fsanitize=address,undefined)
endif()
