from kiosk.claims import claim_code, is_valid_claim_code, normalize_claim_code

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def test_codes_are_deterministic_readable_and_valid() -> None:
    code = claim_code("3f2c9a1e-7b4d-4c1a-9a63-0d2b8f5e6a71")
    assert code == claim_code("3f2c9a1e-7b4d-4c1a-9a63-0d2b8f5e6a71")
    assert len(code) == 9 and code[4] == "-"
    assert set(code.replace("-", "")) <= set(ALPHABET)
    assert is_valid_claim_code(code)
    assert is_valid_claim_code(code.lower().replace("-", " "))


def test_codes_rarely_collide() -> None:
    assert len({claim_code(f"tx-{n}") for n in range(5000)}) == 5000


def test_every_single_character_typo_is_caught() -> None:
    for n in range(50):
        kept = normalize_claim_code(claim_code(f"tx-{n}"))
        for position in range(len(kept)):
            for replacement in ALPHABET:
                if replacement != kept[position]:
                    typo = kept[:position] + replacement + kept[position + 1:]
                    assert not is_valid_claim_code(typo), typo


def test_swapped_neighbours_are_caught() -> None:
    caught = total = 0
    for n in range(200):
        kept = normalize_claim_code(claim_code(f"tx-{n}"))
        for position in range(len(kept) - 1):
            if kept[position] != kept[position + 1]:
                swapped = (kept[:position] + kept[position + 1] + kept[position]
                           + kept[position + 2:])
                total += 1
                caught += not is_valid_claim_code(swapped)
    assert caught / total > 0.95  # Luhn mod N misses only a few symmetric pairs


def test_look_alikes_and_wrong_lengths() -> None:
    code = claim_code("tx-9")
    assert normalize_claim_code(code.replace("0", "O").replace("1", "I")) == \
        normalize_claim_code(code)
    assert not is_valid_claim_code(code[:-1])
    assert not is_valid_claim_code(code + "0")
    assert not is_valid_claim_code("UUUU-UUUU")
