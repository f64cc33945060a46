// Where the milter's log lines go: stderr or syslog (facility mail). One
// interface so the filter core can be tested with a capturing logger.
#pragma once

#include <memory>
#include <string>
#include <string_view>

namespace quotamilter::filter {

enum class LogLevel { error = 0, warning = 1, info = 2, debug = 3 };

// "error" | "warning" | "info" | "debug"; throws std::invalid_argument otherwise.
LogLevel parse_log_level(std::string_view text);
std::string_view to_string(LogLevel level);

class Logger {
public:
    explicit Logger(LogLevel threshold) : threshold_(threshold) {}
    virtual ~Logger() = default;
    Logger(const Logger&) = delete;
    Logger& operator=(const Logger&) = delete;

    bool enabled(LogLevel level) const { return level <= threshold_; }
    void log(LogLevel level, std::string_view line) {
        if (enabled(level)) write(level, line);
    }
    void error(std::string_view line) { log(LogLevel::error, line); }
    void warning(std::string_view line) { log(LogLevel::warning, line); }
    void info(std::string_view line) { log(LogLevel::info, line); }
    void debug(std::string_view line) { log(LogLevel::debug, line); }

protected:
    // Called from any thread; implementations are thread-safe.
    virtual void write(LogLevel level, std::string_view line) = 0;

private:
    LogLevel threshold_;
};

// "quotamilter[PID]: warning: line" on stderr, one write per line.
std::unique_ptr<Logger> make_stderr_logger(LogLevel threshold);
// syslog(3) with ident "quotamilter", LOG_PID, the given facility name
// ("mail", "local0".."local7", "daemon", "user"); throws std::invalid_argument
// for an unknown facility.
std::unique_ptr<Logger> make_syslog_logger(LogLevel threshold, const std::string& facility);
// Throws std::invalid_argument for an unknown facility name.
int syslog_facility_from_name(const std::string& facility);

}  // namespace quotamilter::filter
