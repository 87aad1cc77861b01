# One place for compiler flags so every target gets the same treatment.
add_library(wa_flags INTERFACE)
target_compile_options(wa_flags INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast
  -Wcast-align -Wunused -Woverloaded-virtual
  -Wimplicit-fallthrough -Wformat=2)
if(WA_WERROR)
  target_compile_options(wa_flags INTERFACE -Werror)
endif()
if(WA_SANITIZE)
  target_compile_options(wa_flags INTERFACE -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  target_link_options(wa_flags INTERFACE -fsanitize=address,undefined)
endif()
if(WA_FUZZ)
  target_compile_options(wa_flags INTERFACE -fsanitize=fuzzer-no-link)
endif()
# Generated code (protobuf) is compiled without our warning set.
add_library(wa_generated_flags INTERFACE)
if(WA_SANITIZE)
  target_compile_options(wa_generated_flags INTERFACE -fsanitize=address,undefined -fno-omit-frame-pointer)
  target_link_options(wa_generated_flags INTERFACE -fsanitize=address,undefined)
endif()
