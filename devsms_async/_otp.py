"""The provider's universal OTP templates (a domain fact, shared by the clients,
reconcile and the sandbox)."""

from __future__ import annotations

__all__ = ["OTP_TEMPLATES", "render_otp"]

OTP_TEMPLATES: dict[int, str] = {
    1: "MyService tizimi: {service_name} xizmatida amaliyotni tasdiqlash kodi: {otp_code}",
    2: "MyService tizimi: {service_name} xizmatida parolni tiklash uchun tasdiqlash kodi: "
    "{otp_code}",
    3: "MyService tizimi: {service_name} xizmatiga ro'yxatdan o'tish uchun tasdiqlash kodi: "
    "{otp_code}",
    4: "MyService tizimi: {service_name} xizmatiga kirish uchun tasdiqlash kodi: {otp_code}",
}
"""The provider's four universal OTP templates, as the spec prints them."""


def render_otp(template: int, service_name: str, otp_code: str) -> str:
    """The text the provider stores for a universal OTP send."""
    return OTP_TEMPLATES[template].format(service_name=service_name, otp_code=otp_code)
