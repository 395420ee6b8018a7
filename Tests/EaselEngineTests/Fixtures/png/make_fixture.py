# Regenerate the PNG fixtures (run from this directory):
#   /work/venv/bin/python make_fixture.py
# Pixel formula (checked by PNGTests): r = 50*x, g = 60*y, b = (37*x + 11*y*y) % 256, a = 255 - 40*x.
from PIL import Image

W, H = 5, 4
def px(x, y):
    return (50 * x, 60 * y, (37 * x + 11 * y * y) % 256, 255 - 40 * x)

rgb = Image.new("RGB", (W, H))
rgba = Image.new("RGBA", (W, H))
for y in range(H):
    for x in range(W):
        rgb.putpixel((x, y), px(x, y)[:3])
        rgba.putpixel((x, y), px(x, y))
rgb.save("pil_rgb.png", optimize=True)
rgba.save("pil_rgba.png")
rgb.convert("L").save("pil_gray.png")
rgb.quantize(colors=256).save("pil_palette.png")
