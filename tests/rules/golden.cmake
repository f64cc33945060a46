# Runs one command and compares one of its output streams with a golden file,
# Postfix-style (x.in/x.ref): cmake -DCOMMAND=... -DWORKDIR=... -DREF=...
#   -DSTREAM=stdout|stderr -DEXPECT_RC=N -P golden.cmake
# COMMAND is a ;-list. Without -DREF only the exit status is checked. With QM_UPDATE_GOLDEN=1 in the environment the golden
# file is rewritten instead (review the diff before committing it).
execute_process(
  COMMAND ${COMMAND}
  WORKING_DIRECTORY ${WORKDIR}
  OUTPUT_VARIABLE out
  ERROR_VARIABLE err
  RESULT_VARIABLE rc
  TIMEOUT 60)
if(STREAM STREQUAL "stderr")
  set(actual "${err}")
  set(other "${out}")
else()
  set(actual "${out}")
  set(other "${err}")
endif()
if(NOT DEFINED REF)
  # exit status only (for messages printed by code outside this room)
  if(NOT rc STREQUAL EXPECT_RC)
    message(SEND_ERROR "exit status ${rc}, expected ${EXPECT_RC}\nstdout: ${out}\nstderr: ${err}")
  endif()
  return()
endif()
if("$ENV{QM_UPDATE_GOLDEN}" STREQUAL "1")
  file(WRITE ${REF} "${actual}")
  message(STATUS "updated ${REF}")
  return()
endif()
file(READ ${REF} expected)
set(failed FALSE)
if(NOT rc STREQUAL EXPECT_RC)
  message(SEND_ERROR "exit status ${rc}, expected ${EXPECT_RC}")
  set(failed TRUE)
endif()
if(NOT actual STREQUAL expected)
  message(SEND_ERROR "${STREAM} differs from ${REF}\n--- expected\n${expected}--- actual\n${actual}---")
  set(failed TRUE)
endif()
if(NOT other STREQUAL "")
  message(SEND_ERROR "unexpected output on the other stream:\n${other}")
  set(failed TRUE)
endif()
