"""callcenter: the phone side of a Chinese-language customer-service hotline on Asterisk."""

__version__ = "0.1.0"
