# The layering check's own test: run it over fixture/ and require that it fails, that it names the include that
# points up (base/bad.hpp -> actors/) and the folder without a layer (newdir/), and that it leaves the allowed
# include (actors/fine.hpp -> storage/) alone.
#   cmake -DCHECK=<cmake/check_layers.cmake> -DFIXTURE=<tests/layering/fixture> -P expect_violations.cmake
execute_process(COMMAND ${CMAKE_COMMAND} -DROOT=${FIXTURE} -P ${CHECK} RESULT_VARIABLE rc OUTPUT_VARIABLE out
                ERROR_VARIABLE out)
string(REGEX REPLACE "[ \t\r\n]+" " " flat "${out}") # CMake wraps long messages
set(failures "")
if(rc EQUAL 0)
  list(APPEND failures "the check passed a tree with a wrong include")
endif()
if(NOT flat MATCHES "base/bad.hpp includes \"actors/")
  list(APPEND failures "base/bad.hpp's include of actors/ was not reported")
endif()
if(NOT flat MATCHES "folder newdir/ holds sources but has no place")
  list(APPEND failures "the folder without a layer was not reported")
endif()
if(flat MATCHES "actors/fine.hpp")
  list(APPEND failures "an allowed include (actors/ -> storage/) was reported")
endif()
if(failures)
  message(FATAL_ERROR "${failures}\n--- check output ---\n${out}")
endif()
message(STATUS "the layering check reports what it must and nothing else")
