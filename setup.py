"""Install nirich-cgcnn from settings.ini (nbdev 2 layout)."""
from configparser import ConfigParser
import setuptools

cfg = ConfigParser(delimiters=['='])
cfg.read('settings.ini', encoding='utf-8')
cfg = cfg['DEFAULT']

setuptools.setup(
    name=cfg['lib_name'], version=cfg['version'], description=cfg['description'],
    author=cfg['author'], author_email=cfg['author_email'], license=cfg['license'],
    python_requires=f">={cfg['min_python']}", packages=setuptools.find_packages(include=['nirich_cgcnn', 'nirich_cgcnn.*']),
    include_package_data=True, package_data={'nirich_cgcnn': ['models/*.pt', 'models/*.json']},
    install_requires=cfg['requirements'].split(), zip_safe=False,
    entry_points={'console_scripts': cfg['console_scripts'].split()},
)
