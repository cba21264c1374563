# The layering check: every #include "folder/..." in a layer's sources names the layer itself or a layer below
# it (docs/architecture.md "Layers"). Run as a script:
#   cmake -DROOT=<source dir> -P cmake/check_layers.cmake
# It prints one line per offending include and fails; it also fails when a top-level folder holding C or C++
# sources is not in the table, so a new folder must take a place in the picture before it builds.
#
# The table: a layer and the layers it may include directly. What they may include in turn is allowed too (the
# closure), so "sip" may include "storage/..." through "actors".
cmake_minimum_required(VERSION 3.25)
set(pchat_layers base storage codec compliance actors sip web admin client tools tests fuzz)
set(pchat_layer_base "")
set(pchat_layer_storage base)
set(pchat_layer_codec base)
set(pchat_layer_compliance base storage)
set(pchat_layer_actors base storage codec compliance)
set(pchat_layer_sip actors)
set(pchat_layer_web actors)
set(pchat_layer_admin actors)
set(pchat_layer_client base codec)
set(pchat_layer_tools sip web admin client)
set(pchat_layer_tests tools)
set(pchat_layer_fuzz tools)

if(NOT ROOT)
  message(FATAL_ERROR "check_layers: pass -DROOT=<source dir>")
endif()

# Layers any layer may not include: its own and everything it reaches.
function(pchat_reach layer out)
  set(seen ${layer})
  set(todo ${pchat_layer_${layer}})
  while(todo)
    list(POP_FRONT todo next)
    if(NOT next IN_LIST seen)
      list(APPEND seen ${next})
      list(APPEND todo ${pchat_layer_${next}})
    endif()
  endwhile()
  set(${out} ${seen} PARENT_SCOPE)
endfunction()

set(bad 0)
file(GLOB entries LIST_DIRECTORIES true RELATIVE ${ROOT} ${ROOT}/*)
foreach(dir ${entries})
  # Not layers: hidden folders, build trees (build, build-release, ...), and folders without C or C++ of ours.
  if(NOT IS_DIRECTORY ${ROOT}/${dir} OR dir MATCHES "^\\." OR dir MATCHES "^build(-.*)?$"
     OR dir MATCHES "^(cmake|docs|var)$")
    continue()
  endif()
  file(GLOB_RECURSE sources ${ROOT}/${dir}/*.hpp ${ROOT}/${dir}/*.cpp ${ROOT}/${dir}/*.h ${ROOT}/${dir}/*.c)
  if(NOT sources)
    continue()
  endif()
  if(NOT dir IN_LIST pchat_layers)
    message(SEND_ERROR "check_layers: folder ${dir}/ holds sources but has no place in the layer table "
                       "(cmake/check_layers.cmake)")
    set(bad 1)
    continue()
  endif()
  pchat_reach(${dir} allowed)
  foreach(src ${sources})
    # "layer/...", <layer/...> and "../layer/..." all name a layer.
    file(STRINGS ${src} includes REGEX "^[ \t]*#[ \t]*include[ \t]*[\"<](\\.\\./)*[^\">/]+/")
    foreach(line ${includes})
      string(REGEX REPLACE "^[ \t]*#[ \t]*include[ \t]*[\"<](\\.\\./)*([^\">/]+)/.*" "\\2" target "${line}")
      # Only includes that name a layer are checked (tests include their own "support/..." helpers).
      if(target IN_LIST pchat_layers AND NOT target IN_LIST allowed)
        file(RELATIVE_PATH rel ${ROOT} ${src})
        string(REPLACE ";" ", " allowed_text "${allowed}")
        message(SEND_ERROR "check_layers: ${rel} includes \"${target}/...\": ${dir}/ may include only ${allowed_text}")
        set(bad 1)
      endif()
    endforeach()
  endforeach()
endforeach()
if(bad)
  message(FATAL_ERROR "check_layers: includes that point up or sideways (see above)")
endif()
message(STATUS "check_layers: every include points down")
