# The commit a build stamps into its binaries, taken when the build runs (not when it was
# configured): a plain `cmake --build` after a pull or a commit stamps the new commit.
#   ctlab_stamp_git_commit(<target> <template>)
# adds to <target> a source generated from <template> (a configure_file template with
# @CTLAB_GIT_COMMIT@) by a step that runs on every build, asks git for HEAD and rewrites the
# file only when the commit changed, so an unchanged commit rebuilds nothing.
# `cmake -P GitCommit.cmake` with SOURCE_DIR, TEMPLATE and OUTPUT set is that step.
if(CMAKE_SCRIPT_MODE_FILE)
  execute_process(COMMAND git rev-parse --short=12 HEAD WORKING_DIRECTORY "${SOURCE_DIR}"
    OUTPUT_VARIABLE CTLAB_GIT_COMMIT OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  if(NOT CTLAB_GIT_COMMIT)
    set(CTLAB_GIT_COMMIT "unknown")
  endif()
  configure_file("${TEMPLATE}" "${OUTPUT}" @ONLY)  # leaves an identical file untouched
  return()
endif()

set(_ctlab_git_commit_script "${CMAKE_CURRENT_LIST_FILE}")
function(ctlab_stamp_git_commit target template)
  set(out "${CMAKE_CURRENT_BINARY_DIR}/${target}_git_commit.cpp")
  add_custom_target(${target}_git_commit
    COMMAND "${CMAKE_COMMAND}" "-DSOURCE_DIR=${PROJECT_SOURCE_DIR}" "-DTEMPLATE=${template}"
            "-DOUTPUT=${out}" -P "${_ctlab_git_commit_script}"
    BYPRODUCTS "${out}"
    VERBATIM)
  target_sources(${target} PRIVATE "${out}")
  set_source_files_properties("${out}" PROPERTIES GENERATED ON SKIP_PRECOMPILE_HEADERS ON
    SKIP_UNITY_BUILD_INCLUSION ON)
  add_dependencies(${target} ${target}_git_commit)
endfunction()
