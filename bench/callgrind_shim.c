/* Switches callgrind's instrumentation on and off from Python (ctypes), so that only the
   requests bench/instructions.py measures are counted. Built at run time into a temporary
   directory; outside valgrind the macros do nothing. */
#include <valgrind/callgrind.h>

void opmaat_callgrind_start(void) { CALLGRIND_START_INSTRUMENTATION; }

void opmaat_callgrind_stop(void) { CALLGRIND_STOP_INSTRUMENTATION; }
