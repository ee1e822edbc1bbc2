"""Draws the demo catalogue's product pictures into assets/products/ (run once; PNGs are committed).

Simple flat illustrations made here, released with the project under CC0 (see assets/LICENSES.md).
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

SIZE = 256
OUT = Path(__file__).resolve().parent.parent / "assets" / "products"


def canvas() -> tuple[Image.Image, ImageDraw.ImageDraw]:
    image = Image.new("RGBA", (SIZE, SIZE), (0, 0, 0, 0))
    return image, ImageDraw.Draw(image)


def bottle(body: tuple[int, int, int], label: tuple[int, int, int]) -> Image.Image:
    image, draw = canvas()
    draw.rounded_rectangle((96, 20, 160, 60), 10, fill=(220, 220, 230))
    draw.rounded_rectangle((80, 56, 176, 236), 28, fill=body)
    draw.rectangle((80, 120, 176, 176), fill=label)
    draw.ellipse((100, 70, 116, 110), fill=(255, 255, 255, 120))
    return image


def can(body: tuple[int, int, int], stripe: tuple[int, int, int]) -> Image.Image:
    image, draw = canvas()
    draw.rounded_rectangle((72, 36, 184, 228), 18, fill=body)
    draw.rectangle((72, 110, 184, 150), fill=stripe)
    draw.ellipse((72, 26, 184, 52), fill=(200, 200, 210))
    return image


def bag(body: tuple[int, int, int], window: tuple[int, int, int]) -> Image.Image:
    image, draw = canvas()
    draw.polygon([(60, 40), (196, 40), (210, 230), (46, 230)], fill=body)
    draw.rectangle((60, 40, 196, 60), fill=(255, 255, 255, 90))
    draw.ellipse((88, 100, 168, 180), fill=window)
    return image


def bar(wrapper: tuple[int, int, int], band: tuple[int, int, int]) -> Image.Image:
    image, draw = canvas()
    draw.rounded_rectangle((28, 90, 228, 170), 10, fill=wrapper)
    draw.rectangle((100, 90, 156, 170), fill=band)
    return image


def cup(body: tuple[int, int, int], lid: tuple[int, int, int]) -> Image.Image:
    image, draw = canvas()
    draw.polygon([(76, 70), (180, 70), (166, 232), (90, 232)], fill=body)
    draw.rounded_rectangle((66, 50, 190, 76), 8, fill=lid)
    draw.rectangle((84, 130, 172, 170), fill=(240, 230, 210))
    return image


PRODUCTS = {
    "water.png": bottle((90, 170, 230), (230, 245, 255)),
    "cola.png": can((200, 30, 40), (250, 250, 250)),
    "crisps.png": bag((250, 200, 40), (240, 140, 40)),
    "chocolate.png": bar((110, 60, 30), (230, 200, 120)),
    "coffee.png": cup((60, 40, 30), (30, 30, 30)),
    "juice.png": bottle((250, 150, 30), (60, 160, 60)),
}


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, image in PRODUCTS.items():
        image.save(OUT / name)


if __name__ == "__main__":
    main()
