# The layering check's own test: run it over fixture/ and require that it fails, that it names the include that
# points up (base/bad.hpp -> actors/, also written <actors/...> and "../sip/...") and the folders without a
# layer (newdir/, and variant/, which only starts like the ignored var/), and that it leaves the allowed
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
if(NOT flat MATCHES "base/angle.hpp includes \"actors/")
  list(APPEND failures "an angle-bracket include of actors/ from base/ was not reported")
endif()
if(NOT flat MATCHES "base/relative.hpp includes \"sip/")
  list(APPEND failures "a relative include of ../sip/ from base/ was not reported")
endif()
foreach(folder newdir variant)
  if(NOT flat MATCHES "folder ${folder}/ holds sources but has no place")
    list(APPEND failures "the folder ${folder}/, which has no layer, was not reported")
  endif()
endforeach()
if(flat MATCHES "actors/fine.hpp")
  list(APPEND failures "an allowed include (actors/ -> storage/) was reported")
endif()
if(failures)
  message(FATAL_ERROR "${failures}\n--- check output ---\n${out}")
endif()
message(STATUS "the layering check reports what it must and nothing else")
