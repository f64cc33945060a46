// The settings of `quotamilter serve`: defaults, then the --config JSON file,
// then command-line flags. Every key is documented in docs/CONFIG.md.
#pragma once

#include "filter/log.h"
#include "filter/session.h"

#include <chrono>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <sys/types.h>

namespace quotamilter::cli {

class ParsedArgs;
using filter::LogLevel;
using filter::NonSmtpDetection;
using filter::OnStoreError;

struct ConfigError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct ServeConfig {
    std::string socket = "unix:/run/quotamilter/quotamilter.sock";
    mode_t socket_mode = 0660;
    std::string rules = "/etc/quotamilter/rules.json";
    std::string redis = "redis://127.0.0.1:6379/0";
    OnStoreError on_store_error = OnStoreError::tempfail;
    std::chrono::milliseconds store_timeout{250};
    std::string key_prefix = "qm:";
    std::size_t store_pool_size = 64;
    std::string log = "stderr";            // "stderr" | "syslog"
    std::string syslog_facility = "mail";
    LogLevel log_level = LogLevel::info;
    std::optional<std::string> user;       // run as, after opening the socket (when started as root)
    std::optional<std::string> group;
    NonSmtpDetection non_smtp = NonSmtpDetection::automatic;  // "auto" | "always" | "never"
    int listen_backlog = 0;                // 0: libmilter's default
    std::chrono::seconds milter_timeout{7210};        // smfi_settimeout: MTA I/O timeout
    std::chrono::milliseconds shutdown_timeout{5000};  // SIGTERM: keep serving open sessions this long
    bool monitor = false;                  // global monitor switch: count and log, never refuse
    std::string metrics;                   // Prometheus endpoint "HOST:PORT"; empty: none
};

// Parses a --config file's text. Throws ConfigError "FILE: ..." for JSON
// errors, unknown keys, wrong types and bad values.
ServeConfig parse_serve_config(std::string_view json_text, const std::string& file_name);
// Reads and parses FILE; ConfigError when it cannot be read.
ServeConfig load_serve_config(const std::string& path);

// The options `serve` accepts (for ParsedArgs).
const std::set<std::string>& serve_value_options();
const std::set<std::string>& serve_flag_options();

// The whole configuration of `serve`: defaults, the --config file if given,
// then the flags. Throws ConfigError (exit 1) or cli::UsageError (exit 2).
ServeConfig resolve_serve_config(const ParsedArgs& args);

// "0660" -> 0660; ConfigError for anything but 3-4 octal digits <= 0777.
mode_t parse_socket_mode(const std::string& text);
OnStoreError parse_on_store_error(const std::string& text);
NonSmtpDetection parse_non_smtp(const std::string& text);

}  // namespace quotamilter::cli
