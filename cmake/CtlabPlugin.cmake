# ctlab_add_plugin(<name> SOURCES <src>... [OUTPUT_DIRECTORY <dir>] [NO_INSTALL])
#
# Builds a compression plugin as a loadable module named libctlab_plugin_<name>.so that
# links only the SDK (ctlab::sdk: plugin_api.h, LibTorch, Boost headers). The same
# function serves the built-in plugins and out-of-tree plugins built against an installed
# ctlab (find_package(ctlab)). Inside the ctlab tree the module lands in the build
# tree's lib/ctlab/plugins and is installed beside the executable's plugins.
function(ctlab_add_plugin name)
  cmake_parse_arguments(ARG "NO_INSTALL" "OUTPUT_DIRECTORY" "SOURCES" ${ARGN})
  if(NOT ARG_SOURCES)
    message(FATAL_ERROR "ctlab_add_plugin(${name}): SOURCES is required")
  endif()
  set(target ctlab_plugin_${name})
  add_library(${target} MODULE ${ARG_SOURCES})
  if(TARGET ctlab_sdk)
    target_link_libraries(${target} PRIVATE ctlab_sdk)
  else()
    target_link_libraries(${target} PRIVATE ctlab::sdk)
  endif()
  set(out "${ARG_OUTPUT_DIRECTORY}")
  if(NOT out AND DEFINED CTLAB_PLUGIN_OUTPUT_DIRECTORY)
    set(out "${CTLAB_PLUGIN_OUTPUT_DIRECTORY}")
  endif()
  if(NOT out)
    set(out "${CMAKE_CURRENT_BINARY_DIR}")
  endif()
  set_target_properties(${target} PROPERTIES
    OUTPUT_NAME ctlab_plugin_${name} PREFIX "lib"
    LIBRARY_OUTPUT_DIRECTORY "${out}"
    CXX_STANDARD 17 CXX_STANDARD_REQUIRED ON CXX_VISIBILITY_PRESET hidden
    POSITION_INDEPENDENT_CODE ON)
  if(COMMAND ctlab_use_torch_pch)
    ctlab_use_torch_pch(${target})
  endif()
  if(NOT ARG_NO_INSTALL)
    install(TARGETS ${target} LIBRARY DESTINATION "lib/ctlab/plugins")
  endif()
endfunction()
