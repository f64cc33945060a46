// Default replies (rules/replies.h).
#include "rules/replies.h"

namespace quotamilter::rules {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_class(char c) { return c == '4' || c == '5'; }

}  // namespace

char reply_class(Verdict verdict) { return verdict == Verdict::reject ? '5' : '4'; }

ReplyCodes default_reply_codes(Verdict verdict) {
    if (verdict == Verdict::reject) return {"550", "5.7.1"};
    return {"451", "4.7.1"};
}

bool is_reply_code(std::string_view code) {
    return code.size() == 3 && is_class(code[0]) && is_digit(code[1]) && is_digit(code[2]);
}

bool is_enhanced_code(std::string_view xcode) {
    if (xcode.size() < 5 || !is_class(xcode[0]) || xcode[1] != '.') return false;
    std::size_t i = 2;
    for (int part = 0; part < 2; ++part) {
        std::size_t digits = 0;
        while (i < xcode.size() && is_digit(xcode[i])) ++i, ++digits;
        if (digits < 1 || digits > 3) return false;
        if (part == 0) {
            if (i >= xcode.size() || xcode[i] != '.') return false;
            ++i;
        }
    }
    return i == xcode.size();
}

bool code_fits_verdict(std::string_view code, Verdict verdict) {
    return is_reply_code(code) && code[0] == reply_class(verdict);
}

bool xcode_fits_verdict(std::string_view xcode, Verdict verdict) {
    return is_enhanced_code(xcode) && xcode[0] == reply_class(verdict);
}

std::string_view default_reply_text(Verdict verdict, bool quota_refusal, bool fits_later) {
    if (quota_refusal) {
        return fits_later ? "Sending quota exceeded (policy {policy}: {limit} {unit} per {window}), try again in {retry_after}"
                          : "Message exceeds the sending quota (policy {policy}: {limit} {unit} per {window})";
    }
    return verdict == Verdict::reject ? "Message refused by policy {policy}"
                                      : "Message deferred by policy {policy}, try again later";
}

}  // namespace quotamilter::rules
