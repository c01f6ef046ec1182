# Slurm: the batch script (slurm/sweep.sh) and a real single-node Slurm cluster that the tests
# start themselves (tests/slurm/slurm_cluster.sh; Debian slurm-wlm + munge, run as root).
# Where the daemons cannot run, the cluster tests print why and are skipped (exit 77).

# Every shell script of this area passes shellcheck (skipped where shellcheck is missing).
file(GLOB DS_SLURM_SCRIPTS CONFIGURE_DEPENDS
  ${CMAKE_SOURCE_DIR}/slurm/*.sh ${CMAKE_CURRENT_LIST_DIR}/*.sh)
add_test(NAME slurm.shellcheck
  COMMAND bash -c "command -v shellcheck >/dev/null || { echo 'shellcheck not installed'; exit 77; }; shellcheck \"$@\"" shellcheck ${DS_SLURM_SCRIPTS})
set_tests_properties(slurm.shellcheck PROPERTIES LABELS unit SKIP_RETURN_CODE 77 TIMEOUT 60)

# The cluster itself: sbatch --wrap runs a job to completion.
add_test(NAME slurm.cluster
  COMMAND ${CMAKE_CURRENT_LIST_DIR}/test_slurm.sh cluster ${CMAKE_SOURCE_DIR})
set_tests_properties(slurm.cluster PROPERTIES LABELS slurm SKIP_RETURN_CODE 77 TIMEOUT 120
  RESOURCE_LOCK slurm_cluster)

# sbatch slurm/sweep.sh end to end: complete sweep; warning signal mid-sweep -> checkpoint,
# exit 3, requeue, resume, bit-identical results; sweep-file error -> exit 2, no requeue.
add_test(NAME slurm.sweep_requeue
  COMMAND ${CMAKE_CURRENT_LIST_DIR}/test_slurm.sh sweep ${CMAKE_SOURCE_DIR}
          $<TARGET_FILE:distsweep> ${DS_PYTHON})
set_tests_properties(slurm.sweep_requeue PROPERTIES LABELS "slurm;integration" SKIP_RETURN_CODE 77
  TIMEOUT 400 RESOURCE_LOCK slurm_cluster
  ENVIRONMENT "OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1")

# Slurm's own time-limit warning (#SBATCH --signal): a sweep longer than its 1-minute time limit
# completes through repeated warning -> checkpoint -> requeue -> resume (synthetic job kind).
add_test(NAME slurm.time_limit_requeue
  COMMAND ${CMAKE_CURRENT_LIST_DIR}/test_slurm.sh timelimit ${CMAKE_SOURCE_DIR}
          $<TARGET_FILE:distsweep> ${DS_PYTHON})
set_tests_properties(slurm.time_limit_requeue PROPERTIES LABELS "slurm;integration"
  SKIP_RETURN_CODE 77 TIMEOUT 400 RESOURCE_LOCK slurm_cluster
  ENVIRONMENT "OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1")
