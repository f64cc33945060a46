// The libmilter side: registration, socket, callbacks. Each callback decodes
// its arguments, asks the Session (session.h) and translates the answer; no
// decision is taken here.
#pragma once

#include "filter/session.h"

#include <chrono>
#include <optional>
#include <string>
#include <sys/types.h>

namespace quotamilter::milter {

struct MilterRunOptions {
    std::string socket;                      // libmilter syntax
    mode_t socket_mode = 0660;               // for unix sockets
    int listen_backlog = 0;                  // 0: libmilter's default
    std::chrono::seconds timeout{7210};      // smfi_settimeout
    std::optional<std::string> user;         // drop privileges to, after opening the socket
    std::optional<std::string> group;
};

// Opens the socket (removing a stale unix socket, never a live one) and
// drops privileges. Throws std::runtime_error with a readable message.
void open_milter_socket(filter::FilterEnvironment& environment, const MilterRunOptions& options);

// Runs libmilter's main loop until smfi_stop() or SIGTERM/SIGHUP/SIGINT;
// returns 0 on an orderly stop. open_milter_socket must have succeeded.
int run_milter_loop();

// Asks the main loop to stop (from any thread).
void stop_milter_loop();

// libmilter callbacks running right now (for an orderly exit: never free
// what a running callback uses).
long callbacks_in_flight();

}  // namespace quotamilter::milter
