#include "filter/log.h"

#include <fmt/format.h>

#include <cstdio>
#include <mutex>
#include <stdexcept>
#include <syslog.h>
#include <unistd.h>

namespace quotamilter::filter {

LogLevel parse_log_level(std::string_view text) {
    if (text == "error") return LogLevel::error;
    if (text == "warning") return LogLevel::warning;
    if (text == "info") return LogLevel::info;
    if (text == "debug") return LogLevel::debug;
    throw std::invalid_argument(fmt::format("unknown log level '{}' (error, warning, info, debug)", text));
}

std::string_view to_string(LogLevel level) {
    switch (level) {
        case LogLevel::error: return "error";
        case LogLevel::warning: return "warning";
        case LogLevel::info: return "info";
        case LogLevel::debug: return "debug";
    }
    return "info";
}

namespace {

class StderrLogger final : public Logger {
public:
    explicit StderrLogger(LogLevel threshold) : Logger(threshold), pid_(::getpid()) {}

protected:
    void write(LogLevel level, std::string_view line) override {
        // Postfix style: the severity word only for problems, so refusal lines
        // read like "quotamilter[12]: 4XyZ: reject: policy=...".
        std::string text = level <= LogLevel::warning
                               ? fmt::format("quotamilter[{}]: {}: {}\n", pid_, to_string(level), line)
                               : fmt::format("quotamilter[{}]: {}\n", pid_, line);
        std::lock_guard lock(mutex_);
        std::fwrite(text.data(), 1, text.size(), stderr);
        std::fflush(stderr);
    }

private:
    std::mutex mutex_;
    pid_t pid_;
};

class SyslogLogger final : public Logger {
public:
    SyslogLogger(LogLevel threshold, int facility) : Logger(threshold) {
        ::openlog("quotamilter", LOG_PID | LOG_NDELAY, facility);
    }
    ~SyslogLogger() override { ::closelog(); }

protected:
    void write(LogLevel level, std::string_view line) override {
        int priority = LOG_INFO;
        switch (level) {
            case LogLevel::error: priority = LOG_ERR; break;
            case LogLevel::warning: priority = LOG_WARNING; break;
            case LogLevel::info: priority = LOG_INFO; break;
            case LogLevel::debug: priority = LOG_DEBUG; break;
        }
        std::string text = level <= LogLevel::warning ? fmt::format("{}: {}", to_string(level), line)
                                                     : std::string(line);
        ::syslog(priority, "%s", text.c_str());  // never the text as format: it holds addresses
    }
};

}  // namespace

int syslog_facility_from_name(const std::string& facility) {
    static const std::pair<const char*, int> kFacilities[] = {
        {"mail", LOG_MAIL},     {"daemon", LOG_DAEMON}, {"user", LOG_USER},     {"local0", LOG_LOCAL0},
        {"local1", LOG_LOCAL1}, {"local2", LOG_LOCAL2}, {"local3", LOG_LOCAL3}, {"local4", LOG_LOCAL4},
        {"local5", LOG_LOCAL5}, {"local6", LOG_LOCAL6}, {"local7", LOG_LOCAL7},
    };
    for (const auto& [name, value] : kFacilities)
        if (facility == name) return value;
    throw std::invalid_argument(
        fmt::format("unknown syslog facility '{}' (mail, daemon, user, local0..local7)", facility));
}

std::unique_ptr<Logger> make_stderr_logger(LogLevel threshold) {
    return std::make_unique<StderrLogger>(threshold);
}

std::unique_ptr<Logger> make_syslog_logger(LogLevel threshold, const std::string& facility) {
    return std::make_unique<SyslogLogger>(threshold, syslog_facility_from_name(facility));
}

}  // namespace quotamilter::filter
