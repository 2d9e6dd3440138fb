# warmsite_add_plugin(<target> OUTPUT_NAME <file stem> SOURCES <src>...)
# A plugin is a MODULE library: hidden visibility (only the two entry points are exported),
# linked against warmsite_core, and every symbol resolved at link time (-Wl,--no-undefined) so a
# missing symbol fails the build rather than the daemon.
function(warmsite_add_plugin target)
  cmake_parse_arguments(ARG "" "OUTPUT_NAME;OUTPUT_DIRECTORY" "SOURCES" ${ARGN})
  if(NOT ARG_OUTPUT_DIRECTORY)
    set(ARG_OUTPUT_DIRECTORY ${WARMSITE_PLUGIN_OUTPUT_DIR})
  endif()
  add_library(${target} MODULE ${ARG_SOURCES})
  set_target_properties(${target} PROPERTIES
    PREFIX ""
    OUTPUT_NAME ${ARG_OUTPUT_NAME}
    LIBRARY_OUTPUT_DIRECTORY ${ARG_OUTPUT_DIRECTORY}
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
  target_link_libraries(${target} PRIVATE warmsite::plugin_abi warmsite::core)
  # Not under clang's sanitizers (fuzzing): their runtime lives in the executable only.
  if(NOT WARMSITE_FUZZ)
    target_link_options(${target} PRIVATE -Wl,--no-undefined)
  endif()
endfunction()
