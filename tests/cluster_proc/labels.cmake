# Included by ctest after the discovered tests (TEST_INCLUDE_FILES): gives them the two labels
# "cluster;proc". gtest_discover_tests(PROPERTIES LABELS "a;b") cannot: CMake 3.25 splits the
# list while generating the test file, so only the first label survives and the rest of the
# properties (TIMEOUT among them) is misparsed.
# The convergence tests (converge_test.cc) run a load for up to 35 s, then give convergence up to
# 60 s: they get 240 s instead of 120, with room for a loaded machine; so do the decommission
# tests (membership_proc_test.cc: a hand-over followed for up to 90 s) and the membership walk
# (membership_test.cc: two joins, a decommission, a rolling restart and a replace).
foreach(test_name IN LISTS cluster_proc_test_TESTS)
  set_tests_properties("${test_name}" PROPERTIES LABELS "cluster;proc")
  if(test_name MATCHES "^(Converge|NodeDecommission|Membership)\\.")
    set_tests_properties("${test_name}" PROPERTIES TIMEOUT 240)
  endif()
endforeach()
